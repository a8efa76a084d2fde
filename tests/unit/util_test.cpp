#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::util {
namespace {

TEST(Hex, RoundTripsAndAcceptsPrefixAndCase) {
    const Bytes b = {0x00, 0x01, 0xab, 0xff};
    EXPECT_EQ(to_hex(b), "0001abff");
    EXPECT_EQ(to_hex_prefixed(b), "0x0001abff");
    EXPECT_EQ(*from_hex("0x0001ABff"), b);
    EXPECT_EQ(*from_hex("0001abff"), b);
    EXPECT_TRUE(from_hex("")->empty());
}

TEST(Hex, RejectsOddLengthAndNonDigits) {
    EXPECT_EQ(from_hex("abc").error(), HexError::odd_length);
    EXPECT_EQ(from_hex("zz").error(), HexError::bad_digit);
    EXPECT_EQ(from_hex("0x0g").error(), HexError::bad_digit);
    EXPECT_EQ(from_hex_fixed<2>("aabbcc").error(), HexError::wrong_length);
}

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/conet-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    std::filesystem::path m_dir;
};

using FileTest = TempDir;

TEST_F(FileTest, AtomicWriteCreatesFileWithExactMode) {
    const auto path = m_dir / "secret.json";
    ASSERT_TRUE(write_file_atomic(path, as_bytes("hello"), 0600, Overwrite::no));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(*read_file(path, 100), "hello");
    // No temporary files are left behind.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(m_dir), {}), 1);
}

TEST_F(FileTest, AtomicWriteRefusesToOverwriteUnlessAsked) {
    const auto path = m_dir / "f";
    ASSERT_TRUE(write_file_atomic(path, as_bytes("one"), 0600, Overwrite::no));
    auto again = write_file_atomic(path, as_bytes("two"), 0600, Overwrite::no);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, FileErrorCode::exists);
    EXPECT_EQ(*read_file(path, 100), "one");
    ASSERT_TRUE(write_file_atomic(path, as_bytes("three"), 0600, Overwrite::yes));
    EXPECT_EQ(*read_file(path, 100), "three");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(m_dir), {}), 1);
}

TEST_F(FileTest, ReadFileEnforcesLimitAndReportsMissing) {
    const auto path = m_dir / "big";
    ASSERT_TRUE(write_file_atomic(path, as_bytes(std::string(1000, 'x')), 0644, Overwrite::no));
    EXPECT_EQ(read_file(path, 999).error().code, FileErrorCode::too_large);
    EXPECT_EQ(read_file(path, 1000)->size(), 1000u);
    EXPECT_EQ(read_file(m_dir / "absent", 10).error().code, FileErrorCode::not_found);
}

TEST_F(FileTest, AtomicWriteIntoMissingDirectoryFails) {
    auto r = write_file_atomic(m_dir / "no" / "such" / "dir", as_bytes("x"), 0600, Overwrite::no);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, FileErrorCode::io);
}

}  // namespace
}  // namespace conet::util
