# Every Hearth library, executable and test is declared through these functions so that each one
# also gets an ASan+UBSan twin (suffix -asan) linked against the same llama.cpp static libraries:
# llama.cpp is built once, our code twice.

set(HEARTH_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor)
if(HEARTH_WERROR)
  list(APPEND HEARTH_WARNING_FLAGS -Werror)
endif()
set(HEARTH_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
# GCC 12 reports false maybe-uninitialized warnings inside Boost.Beast when sanitizers are on.
set(HEARTH_SANITIZER_COMPILE_FLAGS ${HEARTH_SANITIZER_FLAGS} -Wno-maybe-uninitialized)

# Variant names; "plain" has no suffix (CMake lists cannot hold an empty first element).
set(HEARTH_VARIANTS plain)
if(HEARTH_SANITIZERS)
  list(APPEND HEARTH_VARIANTS asan)
endif()

macro(_hearth_suffix out variant_name)
  if("${variant_name}" STREQUAL "asan")
    set(${out} "-asan")
  else()
    set(${out} "")
  endif()
endmacro()

function(_hearth_apply_variant target variant)
  target_compile_options(${target} PRIVATE ${HEARTH_WARNING_FLAGS})
  target_compile_features(${target} PUBLIC cxx_std_20)
  if(variant STREQUAL "-asan")
    target_compile_options(${target} PRIVATE ${HEARTH_SANITIZER_COMPILE_FLAGS})
    target_link_options(${target} PUBLIC ${HEARTH_SANITIZER_FLAGS})
  endif()
endfunction()

# Maps dependency names to their variant: our own libraries (hearth_*) get the suffix.
function(_hearth_variant_deps out variant)
  set(result "")
  foreach(dep IN LISTS ARGN)
    if(dep MATCHES "^hearth_")
      list(APPEND result "${dep}${variant}")
    else()
      list(APPEND result "${dep}")
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# hearth_library(NAME SOURCES ... DEPS ...)
function(hearth_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  foreach(variant_name IN LISTS HEARTH_VARIANTS)
    _hearth_suffix(variant ${variant_name})
    set(target ${name}${variant})
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    _hearth_variant_deps(deps "${variant}" ${ARG_DEPS})
    target_link_libraries(${target} PUBLIC ${deps})
    _hearth_apply_variant(${target} "${variant}")
  endforeach()
endfunction()

# hearth_executable(NAME SOURCES ... DEPS ...)
function(hearth_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  foreach(variant_name IN LISTS HEARTH_VARIANTS)
    _hearth_suffix(variant ${variant_name})
    set(target ${name}${variant})
    add_executable(${target} ${ARG_SOURCES})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    _hearth_variant_deps(deps "${variant}" ${ARG_DEPS})
    target_link_libraries(${target} PRIVATE ${deps})
    _hearth_apply_variant(${target} "${variant}")
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  endforeach()
endfunction()

# hearth_gtest(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest executable registered with
# ctest once per variant; the sanitizer run carries the label "asan".
function(hearth_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  foreach(variant_name IN LISTS HEARTH_VARIANTS)
    _hearth_suffix(variant ${variant_name})
    set(target ${name}${variant})
    add_executable(${target} ${ARG_SOURCES})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    _hearth_variant_deps(deps "${variant}" ${ARG_DEPS})
    target_link_libraries(${target} PRIVATE ${deps} GTest::gtest GTest::gtest_main GTest::gmock)
    _hearth_apply_variant(${target} "${variant}")
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    set(labels unit ${ARG_LABELS})
    if(variant STREQUAL "-asan")
      list(APPEND labels asan)
    endif()
    set_property(GLOBAL APPEND PROPERTY HEARTH_TEST_TARGETS ${target})
    add_test(NAME ${target} COMMAND ${target})
    set_tests_properties(${target} PROPERTIES LABELS "${labels}"
      ENVIRONMENT "HEARTH_STORIES_MODEL=${HEARTH_STORIES_MODEL};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
endfunction()

# hearth_python_test(NAME SCRIPT [LABELS ...] [TIMEOUT s]): an integration test in Python
# (standard library only) run once against `hearth` and once against `hearth-asan`. It finds the
# binaries, fixtures and llama.cpp reference tools through environment variables.
function(hearth_python_test name script)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  foreach(variant_name IN LISTS HEARTH_VARIANTS)
    _hearth_suffix(variant ${variant_name})
    set(labels integration ${ARG_LABELS})
    if(variant STREQUAL "-asan")
      list(APPEND labels asan)
    endif()
    add_test(NAME ${name}${variant}
      COMMAND ${Python3_EXECUTABLE} -u ${script}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name}${variant} PROPERTIES
      LABELS "${labels}"
      TIMEOUT ${ARG_TIMEOUT}
      ENVIRONMENT "HEARTH_BIN=${CMAKE_BINARY_DIR}/bin/hearth${variant};HEARTH_FIXTURES_DIR=${CMAKE_BINARY_DIR}/fixtures;LLAMA_BIN_DIR=${CMAKE_BINARY_DIR}/bin;HEARTH_STORIES_MODEL=${HEARTH_STORIES_MODEL};HEARTH_SANITIZED=$<IF:$<STREQUAL:${variant},-asan>,1,0>;ASAN_OPTIONS=detect_leaks=0:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
endfunction()
