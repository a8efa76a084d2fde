#include "conet/net/flow_control.hpp"

#include <gtest/gtest.h>

#include "conet/net/stream.hpp"

namespace conet::net {
namespace {

TEST(SendWindow, ClosesWhenExhaustedAndReopensOnGrant) {
    SendWindow w(100);
    EXPECT_EQ(w.available(), 100u);
    w.consume(60);
    EXPECT_TRUE(w.open());
    w.consume(40);
    EXPECT_FALSE(w.open());
    EXPECT_EQ(w.available(), 0u);
    ASSERT_TRUE(w.grant(25));
    EXPECT_TRUE(w.open());
    EXPECT_EQ(w.available(), 25u);
    ASSERT_TRUE(w.grant(75));
    EXPECT_EQ(w.available(), 100u);
}

TEST(SendWindow, RefusesCreditBeyondWhatWasConsumed) {
    SendWindow w(100);
    EXPECT_FALSE(w.grant(1));  // nothing sent yet
    w.consume(30);
    EXPECT_FALSE(w.grant(31));
    EXPECT_EQ(w.available(), 70u);  // a refused grant changes nothing
    EXPECT_TRUE(w.grant(30));
    EXPECT_FALSE(w.grant(1));
    EXPECT_FALSE(w.grant(std::uint64_t{1} << 40));  // no overflow into a "valid" window
}

TEST(RecvWindow, GrantsExactlyTheConsumedBytesOnceTheThresholdIsReached) {
    RecvWindow r(100, 25);
    ASSERT_TRUE(r.receive(60));
    EXPECT_EQ(r.consume(10), 0u);
    EXPECT_EQ(r.consume(10), 0u);
    EXPECT_EQ(r.consume(10), 30u);  // 30 >= 25: all 30 granted, none kept back
    EXPECT_EQ(r.outstanding(), 30);
    EXPECT_EQ(r.consume(24), 0u);
    EXPECT_EQ(r.consume(6), 30u);
    EXPECT_EQ(r.outstanding(), 0);
}

TEST(RecvWindow, ASenderPastTheWindowIsAViolation) {
    RecvWindow r(100, 25);
    EXPECT_TRUE(r.receive(100));
    EXPECT_FALSE(r.receive(1));
    RecvWindow fresh(100, 25);
    EXPECT_TRUE(fresh.receive(50));
    EXPECT_EQ(fresh.consume(50), 50u);
    EXPECT_TRUE(fresh.receive(100));  // consumed bytes free the window
    EXPECT_FALSE(fresh.receive(1));
}

TEST(RecvWindow, BytesConsumedButNotYetGrantedStillCount) {
    RecvWindow r(100, 60);
    ASSERT_TRUE(r.receive(100));
    EXPECT_EQ(r.consume(50), 0u);  // below the SENDME threshold: the sender was granted nothing
    EXPECT_FALSE(r.receive(1)) << "the sender had no credit for this byte";
    RecvWindow g(100, 60);
    ASSERT_TRUE(g.receive(100));
    EXPECT_EQ(g.consume(60), 60u);  // granted: the sender may send 60 more
    EXPECT_TRUE(g.receive(60));
    EXPECT_FALSE(g.receive(1));
}

/// Both ends of one direction with the protocol's sizes: a sender that sends
/// whenever its window is open and a receiver that consumes what it gets
/// never violate the window, and the sender stalls exactly when the
/// receiver stops consuming.
TEST(FlowControl, SenderAndReceiverAgreeThroughExhaustionAndRefill) {
    SendWindow send(stream_window_bytes);
    RecvWindow recv(stream_window_bytes, stream_sendme_bytes);
    std::uint64_t sent = 0, consumed = 0, sendmes = 0;
    // Phase 1: the receiver does not consume: the sender stops at the window.
    while (send.open()) {
        const std::size_t n = std::min(send.available(), max_data_bytes);
        send.consume(n);
        ASSERT_TRUE(recv.receive(n));
        sent += n;
    }
    EXPECT_EQ(sent, static_cast<std::uint64_t>(stream_window_bytes));
    EXPECT_FALSE(recv.receive(1)) << "one byte past the window must be refused";
    // Phase 2: consumption in odd-sized pieces refills the sender in SENDMEs.
    RecvWindow recv2(stream_window_bytes, stream_sendme_bytes);
    ASSERT_TRUE(recv2.receive(static_cast<std::size_t>(stream_window_bytes)));
    while (consumed < sent) {
        const std::size_t n = std::min<std::uint64_t>(sent - consumed, 12'345);
        consumed += n;
        if (const auto credit = recv2.consume(n)) {
            ASSERT_GE(credit, static_cast<std::uint32_t>(stream_sendme_bytes));
            ASSERT_TRUE(send.grant(credit));
            ++sendmes;
        }
    }
    EXPECT_EQ(sendmes, 3u);  // the window consumed in ~quarter-window steps; the last quarter stays unacked
    EXPECT_TRUE(send.open());
    EXPECT_LT(send.available(), static_cast<std::size_t>(stream_window_bytes));
    EXPECT_GE(send.available(), static_cast<std::size_t>(stream_window_bytes - stream_sendme_bytes));
}

}  // namespace
}  // namespace conet::net
