# Read by cpack for each generator (CPACK_PROJECT_CONFIG_FILE).
# CPackDeb puts CPACK_PACKAGE_DESCRIPTION_SUMMARY (defaulted from project(DESCRIPTION)) in front of
# each component's own description, which already starts with its synopsis line.
unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
