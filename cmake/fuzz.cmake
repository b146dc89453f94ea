# libFuzzer targets (issue #23). With -DGANNET_FUZZ=ON (clang only, in its own build dir, see
# scripts/fuzz.sh and `make fuzz`) every library is compiled with coverage instrumentation and
# ASan+UBSan, and gannet_fuzz_target() adds one fuzzer binary; otherwise gannet_fuzz_target() only
# compiles the entry point (below), so fuzzers never run in the default build or ctest.

if(GANNET_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "GANNET_FUZZ needs clang (libFuzzer): configure with CC=clang-14 CXX=clang++-14")
    endif()
    # fuzzer-no-link: coverage feedback from every library, main() only in the fuzz binaries.
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                        -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=address,undefined)
endif()

# gannet_fuzz_target(<name> SOURCES x_fuzz.cc LIBS gannet_x ...): a libFuzzer binary whose seed
# corpus is fuzz/corpus/<name>/. The names are written to <build>/fuzz_targets.txt for the runner.
# Without GANNET_FUZZ the target's *_fuzz.cc files still compile in every build (an object library,
# never linked: gcc has no libFuzzer), so an API change that breaks a fuzz target fails the build and
# `make check`, not the next campaign.
function(gannet_fuzz_target name)
    cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
    if(NOT GANNET_FUZZ)
        set(entry ${F_SOURCES})
        list(FILTER entry INCLUDE REGEX "_fuzz\\.cc$")
        add_library(${name}_compiles OBJECT ${entry})
        target_include_directories(${name}_compiles PRIVATE ${PROJECT_SOURCE_DIR}/src)
        target_link_libraries(${name}_compiles PRIVATE ${F_LIBS})
        target_compile_options(${name}_compiles PRIVATE ${GANNET_WARNINGS})
        return()
    endif()
    add_executable(${name} ${F_SOURCES})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_compile_definitions(${name} PRIVATE GANNET_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                               GANNET_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
    set_property(GLOBAL APPEND PROPERTY GANNET_FUZZ_TARGETS ${name})
endfunction()

# After every part: one `fuzz_targets` target builds them all; the list goes to fuzz_targets.txt
# as "<name> <binary path>" lines.
function(gannet_fuzz_finish)
    if(NOT GANNET_FUZZ)
        return()
    endif()
    get_property(targets GLOBAL PROPERTY GANNET_FUZZ_TARGETS)
    add_custom_target(fuzz_targets DEPENDS ${targets})
    set(lines "")
    foreach(t IN LISTS targets)
        string(APPEND lines "${t} $<TARGET_FILE:${t}>\n")
    endforeach()
    file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/fuzz_targets.txt CONTENT "${lines}")
endfunction()
