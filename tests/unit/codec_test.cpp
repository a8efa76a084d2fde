#include "conet/codec/codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "conet/util/hex.hpp"

#include "codec_sample.hpp"

namespace conet::codec {
namespace {

using test::Sample;

Sample sample_from(std::uint8_t kind, std::uint16_t port, std::uint32_t epoch, std::uint64_t amount, bool active,
                   const std::vector<std::uint8_t>& blob, const std::string& name,
                   const std::vector<std::uint32_t>& items) {
    Sample s{kind, port, epoch, amount, active, {1, 2, 3, 4}, blob, name, items};
    s.blob.resize(std::min(s.blob.size(), Sample::max_blob_bytes));
    s.name.resize(std::min(s.name.size(), Sample::max_name_bytes));
    s.items.resize(std::min(s.items.size(), Sample::max_items));
    return s;
}

rc::Gen<Sample> gen_sample() {
    return rc::gen::apply(sample_from, rc::gen::arbitrary<std::uint8_t>(), rc::gen::arbitrary<std::uint16_t>(),
                          rc::gen::arbitrary<std::uint32_t>(), rc::gen::arbitrary<std::uint64_t>(),
                          rc::gen::arbitrary<bool>(), rc::gen::arbitrary<std::vector<std::uint8_t>>(),
                          rc::gen::arbitrary<std::string>(), rc::gen::arbitrary<std::vector<std::uint32_t>>());
}

TEST(Codec, GoldenEncodingIsFrozen) {
    const Sample s{0x01,         0x0203, 0x04050607, 0x08090a0b0c0d0e0f, true, {0xde, 0xad, 0xbe, 0xef},
                   {0xaa, 0xbb}, "hi",   {7}};
    EXPECT_EQ(util::to_hex(encode(s)),
              "01"                  // u8
              "0203"                // u16 big-endian
              "04050607"            // u32
              "08090a0b0c0d0e0f"    // u64
              "01"                  // bool
              "deadbeef"            // fixed 4 bytes, no prefix
              "00000002aabb"        // bytes: u32 length + data
              "000000026869"        // text
              "0000000100000007");  // list: u32 count + elements
}

RC_GTEST_PROP(Codec, DecodeOfEncodeIsIdentity, ()) {
    const Sample s = *gen_sample();
    const auto decoded = decode<Sample>(encode(s));
    RC_ASSERT(decoded.has_value());
    RC_ASSERT(*decoded == s);
}

RC_GTEST_PROP(Codec, EncodeOfAnyAcceptedInputIsThatInput, (const std::vector<std::uint8_t>& input)) {
    const auto decoded = decode<Sample>(input);
    if (decoded) RC_ASSERT(encode(*decoded) == input);
}

RC_GTEST_PROP(Codec, EncodeOfDecodeHoldsForMutatedValidEncodings, ()) {
    // Random bytes rarely decode; mutate real encodings to reach deep fields.
    Bytes bytes = encode(*gen_sample());
    const auto pos = *rc::gen::inRange<std::size_t>(0, bytes.size());
    bytes[pos] = *rc::gen::arbitrary<std::uint8_t>();
    const auto decoded = decode<Sample>(bytes);
    if (decoded) RC_ASSERT(encode(*decoded) == bytes);
}

RC_GTEST_PROP(Codec, EveryTruncationIsRejected, ()) {
    const Bytes bytes = encode(*gen_sample());
    const auto cut = *rc::gen::inRange<std::size_t>(0, bytes.size());
    const auto decoded = decode<Sample>(util::ByteView(bytes).first(cut));
    RC_ASSERT(!decoded.has_value());
    RC_ASSERT(decoded.error() == CodecError::truncated);
}

RC_GTEST_PROP(Codec, TrailingBytesAreRejected, (const std::vector<std::uint8_t>& extra)) {
    RC_PRE(!extra.empty());
    Bytes bytes = encode(*gen_sample());
    util::append(bytes, extra);
    const auto decoded = decode<Sample>(bytes);
    RC_ASSERT(!decoded.has_value());
    RC_ASSERT(decoded.error() == CodecError::trailing_bytes);
}

TEST(Codec, LengthsAboveTheLimitAreRejectedBeforeReading) {
    Writer w;
    w.u32(Sample::max_blob_bytes + 1);
    Reader r(w.data());
    EXPECT_EQ(r.bytes(Sample::max_blob_bytes).error(), CodecError::too_long);
}

TEST(Codec, HugeCountWithoutDataIsRejectedWithoutAllocating) {
    Writer w;
    w.u32(0xffffffff);
    Reader r(w.data());
    EXPECT_EQ(r.count(0xffffffff).error(), CodecError::truncated);
    Reader r2(w.data());
    EXPECT_EQ(r2.count(10).error(), CodecError::too_long);
}

TEST(Codec, BoolOtherThanZeroOrOneIsRejected) {
    const Bytes b = {0x02};
    Reader r(b);
    EXPECT_EQ(r.boolean().error(), CodecError::bad_bool);
}

TEST(Codec, RawBigEndianHelpersMatchTheWriterAndReader) {
    std::uint8_t buf[8];
    store_be<std::uint16_t>(buf, 0x0102);
    EXPECT_EQ(buf[0], 0x01);
    EXPECT_EQ(buf[1], 0x02);
    EXPECT_EQ(load_be<std::uint16_t>(buf), 0x0102);
    store_be<std::uint32_t>(buf, 0xdeadbeef);
    EXPECT_EQ(load_be<std::uint32_t>(buf), 0xdeadbeefu);
    Writer w;
    w.u64(0x0102030405060708ull);
    Bytes appended;
    append_be<std::uint64_t>(appended, 0x0102030405060708ull);
    EXPECT_EQ(appended, w.data());
    EXPECT_EQ(load_be<std::uint64_t>(appended.data()), 0x0102030405060708ull);
    std::string key;
    append_be<std::uint32_t>(key, 0x80000001u);
    ASSERT_EQ(key.size(), 4u);
    EXPECT_EQ(static_cast<std::uint8_t>(key[0]), 0x80);  // sign bit of char does not leak into the value
    EXPECT_EQ(load_be<std::uint32_t>(key.data()), 0x80000001u);
}

}  // namespace
}  // namespace conet::codec
