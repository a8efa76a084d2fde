#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"

int main(int argc, char** argv) {
    conet::crypto::initialize();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
