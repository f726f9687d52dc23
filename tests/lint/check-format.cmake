# Runs clang-format --dry-run -Werror over the project's C and C++ sources (host, plugins, sdk,
# tests: the build trees and the code generated there are outside them) and fails naming each file
# that is not formatted.
file(GLOB_RECURSE sources LIST_DIRECTORIES false
     ${SOURCE_DIR}/host/*.cpp ${SOURCE_DIR}/host/*.hpp ${SOURCE_DIR}/host/*.h
     ${SOURCE_DIR}/plugins/*.cpp ${SOURCE_DIR}/plugins/*.hpp ${SOURCE_DIR}/plugins/*.h
     ${SOURCE_DIR}/plugins/*.c
     ${SOURCE_DIR}/sdk/*.cpp ${SOURCE_DIR}/sdk/*.hpp ${SOURCE_DIR}/sdk/*.h ${SOURCE_DIR}/sdk/*.c
     ${SOURCE_DIR}/tests/*.cpp ${SOURCE_DIR}/tests/*.hpp ${SOURCE_DIR}/tests/*.h
     ${SOURCE_DIR}/tests/*.c)
list(LENGTH sources count)
if(count EQUAL 0)
  message(FATAL_ERROR "no sources found under ${SOURCE_DIR}")
endif()
# In batches (one clang-format per file costs a process start each); clang-format names every
# file it would change in its diagnostics ("<file>:<line>:<column>: error: ...").
set(unformatted "")
while(sources)
  list(LENGTH sources left)
  if(left GREATER 40)
    list(SUBLIST sources 0 40 batch)
    list(SUBLIST sources 40 -1 sources)
  else()
    set(batch ${sources})
    set(sources "")
  endif()
  execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${batch}
                  RESULT_VARIABLE result OUTPUT_QUIET ERROR_VARIABLE diagnostics)
  if(NOT result EQUAL 0)
    set(named 0)
    foreach(source IN LISTS batch)
      string(FIND "${diagnostics}" "${source}:" at)
      if(NOT at EQUAL -1)
        list(APPEND unformatted ${source})
        math(EXPR named "${named} + 1")
      endif()
    endforeach()
    if(named EQUAL 0)  # it failed without naming a file of this batch: not a formatting finding
      message(FATAL_ERROR "clang-format failed:\n${diagnostics}")
    endif()
  endif()
endwhile()
if(unformatted)
  list(JOIN unformatted "\n  " listing)
  message(FATAL_ERROR "not formatted by .clang-format (run clang-format -i on them):\n  ${listing}")
endif()
message(STATUS "${count} sources formatted by .clang-format")
