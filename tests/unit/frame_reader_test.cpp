#include "conet/net/frame_reader.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace conet::net {
namespace {

util::Bytes frame(const util::Bytes& record) {
    util::Bytes out{static_cast<std::uint8_t>(record.size() >> 8), static_cast<std::uint8_t>(record.size())};
    out.insert(out.end(), record.begin(), record.end());
    return out;
}

util::Bytes record_of(std::size_t len, std::uint8_t fill) {
    return util::Bytes(len, fill);
}

/// Feeds `pieces` in turn and collects every record handed out.
std::vector<util::Bytes> read_all(FrameReader& reader, const std::vector<util::ByteView>& pieces) {
    std::vector<util::Bytes> out;
    for (util::ByteView piece : pieces) {
        while (!piece.empty()) {
            const std::size_t n = reader.feed(piece);
            EXPECT_GT(n, 0u);
            if (n == 0) return out;
            piece = piece.subspan(n);
            for (;;) {
                auto next = reader.next();
                EXPECT_TRUE(next.has_value());
                if (!next || !*next) break;
                out.emplace_back((*next)->begin(), (*next)->end());
            }
        }
    }
    return out;
}

TEST(FrameReader, EverySplitOfAStreamYieldsTheSameRecords) {
    const std::vector<util::Bytes> records = {record_of(0, 0), record_of(1, 1), record_of(17, 2), record_of(300, 3),
                                              record_of(2, 4)};
    util::Bytes stream;
    for (const auto& r : records) util::append(stream, frame(r));
    // Every way of cutting the stream in two or three pieces.
    for (std::size_t a = 0; a <= stream.size(); ++a) {
        for (std::size_t b = a; b <= stream.size(); b += 7) {
            FrameReader reader(300, frame_header_bytes + 300);
            const util::ByteView s(stream);
            const auto got = read_all(reader, {s.first(a), s.subspan(a, b - a), s.subspan(b)});
            ASSERT_EQ(got, records) << "cut at " << a << " and " << b;
            EXPECT_EQ(reader.buffered(), 0u);
        }
    }
}

TEST(FrameReader, OneByteAtATimeYieldsTheSameRecords) {
    const std::vector<util::Bytes> records = {record_of(5, 9), record_of(0, 0), record_of(255, 7), record_of(256, 8)};
    util::Bytes stream;
    for (const auto& r : records) util::append(stream, frame(r));
    FrameReader reader(256, frame_header_bytes + 256);
    std::vector<util::ByteView> pieces;
    for (std::size_t i = 0; i < stream.size(); ++i) pieces.push_back(util::ByteView(stream).subspan(i, 1));
    EXPECT_EQ(read_all(reader, pieces), records);
}

TEST(FrameReader, PartialRecordIsKeptUntilTheRestArrives) {
    const util::Bytes whole = frame(record_of(10, 5));
    FrameReader reader(64, 128);
    // The header alone, then part of the body: nothing yet, everything kept.
    EXPECT_EQ(reader.feed(util::ByteView(whole).first(1)), 1u);
    EXPECT_FALSE(reader.next().value().has_value());
    EXPECT_EQ(reader.feed(util::ByteView(whole).subspan(1, 6)), 6u);
    EXPECT_FALSE(reader.next().value().has_value());
    EXPECT_EQ(reader.buffered(), 7u);
    // prepare() keeps the partial record and leaves room after it.
    EXPECT_EQ(reader.prepare().size(), 128u - 7u);
    EXPECT_EQ(reader.feed(util::ByteView(whole).subspan(7)), whole.size() - 7);
    auto rec = reader.next().value();
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(util::Bytes(rec->begin(), rec->end()), record_of(10, 5));
    EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReader, RecordsAreViewsIntoTheBufferForInPlaceDecryption) {
    FrameReader reader(16, 64);
    const util::Bytes whole = frame(record_of(4, 1));
    auto space = reader.prepare();
    std::copy(whole.begin(), whole.end(), space.begin());
    reader.commit(whole.size());
    auto rec = reader.next().value();
    ASSERT_TRUE(rec.has_value());
    // The record is the bytes just after the header in the space the caller read into.
    EXPECT_EQ(rec->data(), space.data() + frame_header_bytes);
    EXPECT_EQ(rec->size(), 4u);
}

TEST(FrameReader, RecordAtTheLimitIsReadAndOneByteOverFailsForGood) {
    FrameReader reader(100, frame_header_bytes + 100);
    // Exactly the limit fills the whole buffer.
    const util::Bytes at_limit = frame(record_of(100, 6));
    EXPECT_EQ(reader.feed(at_limit), at_limit.size());
    auto rec = reader.next().value();
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->size(), 100u);
    // One over is refused as soon as its header arrives, before its body.
    const util::Bytes over = frame(record_of(101, 6));
    EXPECT_EQ(reader.feed(util::ByteView(over).first(2)), 2u);
    auto failed = reader.next();
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error(), FrameError::record_too_long);
    EXPECT_TRUE(reader.failed());
    EXPECT_FALSE(reader.next().has_value());
    EXPECT_EQ(reader.feed(util::ByteView(over).subspan(2)), 0u);
}

TEST(FrameReader, LongestLengthAHeaderCanStateIsReadWithTheLinkLimit) {
    FrameReader reader(max_frame_record_bytes, frame_header_bytes + max_frame_record_bytes);
    const util::Bytes whole = frame(record_of(max_frame_record_bytes, 0xab));
    EXPECT_EQ(reader.feed(whole), whole.size());
    auto rec = reader.next().value();
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->size(), max_frame_record_bytes);
    EXPECT_FALSE(reader.next().value().has_value());
}

TEST(FrameReader, EmptyRecordsAtZeroLimitAreReadAndAnythingLongerFails) {
    FrameReader reader(0, frame_header_bytes);
    const util::Bytes two_empty = {0, 0, 0, 0};
    EXPECT_EQ(read_all(reader, {two_empty}), (std::vector<util::Bytes>{{}, {}}));
    EXPECT_EQ(reader.feed(util::Bytes{0, 1}), 2u);
    EXPECT_FALSE(reader.next().has_value());
}

}  // namespace
}  // namespace conet::net
