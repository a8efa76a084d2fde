// One end of a stream (net/stream_core): windows, half-close and finishing,
// with no socket: the test plays the adapter.

#include "conet/net/stream_core.hpp"

#include <gtest/gtest.h>

namespace conet::net {
namespace {

TEST(StreamCore, RoomIsTheSmallestOfBothWindowsAndACell) {
    StreamCore s;
    EXPECT_EQ(s.room(1 << 30), max_data_bytes);
    EXPECT_EQ(s.room(100), 100u);  // the circuit's window is the limit
    EXPECT_EQ(s.room(0), 0u);
    // Exhaust the stream window: no room whatever the circuit allows, until a SENDME.
    std::size_t sent = 0;
    while (s.room(1 << 30) > 0) {
        const auto n = s.room(1 << 30);
        s.sent(n);
        sent += n;
    }
    EXPECT_EQ(sent, static_cast<std::size_t>(stream_window_bytes));
    EXPECT_FALSE(s.send_window_open());
    ASSERT_TRUE(s.on_sendme(1000));
    EXPECT_EQ(s.room(1 << 30), 1000u);
    EXPECT_FALSE(s.on_sendme(static_cast<std::uint64_t>(stream_window_bytes))) << "more than was ever sent";
}

TEST(StreamCore, WrittenBytesEarnSendmesOfExactlyWhatWasWritten) {
    StreamCore s;
    ASSERT_TRUE(s.on_data(stream_sendme_bytes));
    ASSERT_TRUE(s.on_data(100));
    EXPECT_EQ(s.unwritten(), static_cast<std::size_t>(stream_sendme_bytes) + 100);
    EXPECT_EQ(s.written(100), 0u);
    EXPECT_EQ(s.written(stream_sendme_bytes), static_cast<std::uint32_t>(stream_sendme_bytes) + 100);
    EXPECT_EQ(s.unwritten(), 0u);
}

TEST(StreamCore, DataPastTheWindowOrAfterEndIsAProtocolError) {
    StreamCore s;
    ASSERT_TRUE(s.on_data(stream_window_bytes));
    EXPECT_FALSE(s.on_data(1));
    StreamCore e;
    ASSERT_TRUE(e.on_data(10));
    e.on_end();
    EXPECT_FALSE(e.on_data(1)) << "DATA after END";
}

TEST(StreamCore, HalfCloseFinishesOnlyWhenBothSidesEndedAndAllIsWritten) {
    StreamCore s;
    ASSERT_TRUE(s.on_data(50));
    s.on_end();  // the peer is done sending
    EXPECT_FALSE(s.shutdown_due()) << "50 bytes are still to be written";
    static_cast<void>(s.written(50));
    ASSERT_TRUE(s.shutdown_due());
    s.shutdown_done();
    EXPECT_FALSE(s.shutdown_due());
    EXPECT_FALSE(s.finished()) << "our socket has not reached EOF";
    // Our direction keeps working after the peer's END (half-close).
    EXPECT_GT(s.room(1 << 20), 0u);
    s.sent(10);
    EXPECT_TRUE(s.local_end());
    EXPECT_FALSE(s.local_end()) << "END is sent once";
    EXPECT_EQ(s.room(1 << 20), 0u);
    EXPECT_TRUE(s.finished());
}

}  // namespace
}  // namespace conet::net
