// The single translation unit that provides main() for a CAF test binary.
#define CAF_TEST_UNIT_TEST_IMPL
#include <caf/test/unit_test_impl.hpp>
