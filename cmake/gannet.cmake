# gannet_component(), gannet_test(): one static library per part, tests beside the code.

set(GANNET_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(GANNET_WERROR)
    list(APPEND GANNET_WARNINGS -Werror)
endif()

# GANNET_SANITIZE=address,undefined or thread: every target of the build (libraries, tests, the
# binary) is instrumented; scripts/check.sh builds these in their own build dirs. UBSan findings
# abort (no recovery) so a test fails instead of printing a line nobody reads.
set(GANNET_SANITIZE "" CACHE STRING "sanitizers: address,undefined | thread | empty")
if(GANNET_SANITIZE)
    if(GANNET_SANITIZE MATCHES "thread" AND GANNET_SANITIZE MATCHES "address")
        message(FATAL_ERROR "GANNET_SANITIZE: thread cannot be combined with address, got '${GANNET_SANITIZE}'")
    endif()
    set(GANNET_SANITIZE_FLAGS -fsanitize=${GANNET_SANITIZE} -fno-omit-frame-pointer -g1)
    if(GANNET_SANITIZE MATCHES "undefined")
        list(APPEND GANNET_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
    endif()
    add_compile_options(${GANNET_SANITIZE_FLAGS})
    add_link_options(-fsanitize=${GANNET_SANITIZE})
endif()

# gannet_component(<name> SOURCES a.cc b.cc DEPS gannet_base ... [PUBLIC_LIBS ...])
# builds the static library gannet_<name>; includes are rooted at src/.
function(gannet_component name)
    cmake_parse_arguments(C "" "" "SOURCES;DEPS;PUBLIC_LIBS" ${ARGN})
    add_library(gannet_${name} STATIC ${C_SOURCES})
    target_include_directories(gannet_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(gannet_${name} PRIVATE ${GANNET_WARNINGS})
    target_link_libraries(gannet_${name} PUBLIC ${C_DEPS} ${C_PUBLIC_LIBS})
endfunction()

# gannet_test(<name> SOURCES ... LIBS ... LABELS fast|slow|gpu [concurrency] [TIMEOUT s])
# `concurrency` marks tests whose subject has threads (engine, scheduler, server, store): the TSan
# stage of scripts/check.sh runs them. Each label also collects its targets into the build target
# gannet_tests_<label> (see gannet_label_targets()), so a sanitizer build compiles only those.
function(gannet_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_compile_options(${name} PRIVATE ${GANNET_WARNINGS})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest_main Threads::Threads)
    target_compile_definitions(${name} PRIVATE GANNET_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                               GANNET_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 120)
    endif()
    if(GANNET_SANITIZE)
        math(EXPR T_TIMEOUT "${T_TIMEOUT} * 4")  # instrumented code runs 2-15x slower
    endif()
    # Sanitized builds list their tests when ctest runs (PRE_TEST), under check.sh's setarch -R, not
    # at link time where TSan's shadow mapping may not fit the kernel's address randomisation.
    set(discovery_mode POST_BUILD)
    if(GANNET_SANITIZE)
        set(discovery_mode PRE_TEST)
    endif()
    # One ctest label joined with '_' ("fast_concurrency"): cmake 3.25's gtest_discover_tests
    # flattens a list in PROPERTIES. ctest -L/-LE take regexes, so -L fast and -L concurrency
    # both select it.
    list(JOIN T_LABELS "_" labels)
    gtest_discover_tests(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${T_TIMEOUT} DISCOVERY_TIMEOUT 60
                         DISCOVERY_MODE ${discovery_mode})
    foreach(label IN LISTS T_LABELS)
        set_property(GLOBAL APPEND PROPERTY GANNET_TESTS_${label} ${name})
    endforeach()
endfunction()

# Called once at the end of the top-level CMakeLists: gannet_tests_fast, gannet_tests_concurrency.
function(gannet_label_targets)
    foreach(label fast slow concurrency)
        get_property(targets GLOBAL PROPERTY GANNET_TESTS_${label})
        if(targets)
            add_custom_target(gannet_tests_${label} DEPENDS ${targets})
        endif()
    endforeach()
endfunction()
