# brindle_sdk_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
# Builds <name>.so as a Brindle plugin: C++20, hidden visibility, only the entry symbol exported,
# no undefined symbols (plugins get everything from the host through the services table).
function(brindle_sdk_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE Brindle::sdk ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE
    -Wl,--version-script=${BRINDLE_SDK_VERSION_SCRIPT} -Wl,--no-undefined)
endfunction()
