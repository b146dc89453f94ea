# gannet_component(), gannet_test(): one static library per part, tests beside the code.

set(GANNET_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(GANNET_WERROR)
    list(APPEND GANNET_WARNINGS -Werror)
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

# gannet_test(<name> SOURCES ... LIBS ... LABELS fast|slow|gpu [TIMEOUT s])
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
    gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} DISCOVERY_TIMEOUT 60)
endfunction()
