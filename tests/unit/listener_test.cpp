// net::Listener and net::dial on loopback: binding errors name the address,
// accepted sockets reach the handler until close(), dial tries candidates in
// order and reports refusals. No sleeps: the io_context runs until the
// condition under test holds.

#include "conet/net/listener.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace conet::net {
namespace {

const tcp::endpoint loopback_any{asio::ip::make_address("127.0.0.1"), 0};

/// Runs `io` until `done()` holds (each step handles one completion).
template <class Done>
void run_until(asio::io_context& io, Done done) {
    for (int steps = 0; !done(); ++steps) {
        ASSERT_LT(steps, 10'000) << "the condition never held";
        io.run_one();
    }
}

/// A port nobody listens on: bound, then released.
std::uint16_t closed_port(asio::io_context& io) {
    auto l = Listener::open(io.get_executor(), loopback_any);
    EXPECT_TRUE(l.has_value());
    return (*l)->local_endpoint().port();
}

TEST(Listener, BindsAFreePortAndRefusesOneInUseNamingIt) {
    asio::io_context io;
    auto first = Listener::open(io.get_executor(), loopback_any);
    ASSERT_TRUE(first.has_value());
    const auto at = (*first)->local_endpoint();
    EXPECT_NE(at.port(), 0);
    auto second = Listener::open(io.get_executor(), at);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().error, ListenError::address_in_use);
    EXPECT_EQ(describe(second.error()),
              "cannot listen on 127.0.0.1:" + std::to_string(at.port()) + ": the address is in use by another program");
}

TEST(Listener, AnAddressNotOnThisHostIsNamedAsSuch) {
    asio::io_context io;
    // 192.0.2.1 (TEST-NET-1) is on no interface here; bind fails before any packet is sent.
    auto l = Listener::open(io.get_executor(), tcp::endpoint(asio::ip::make_address("192.0.2.1"), 0));
    ASSERT_FALSE(l.has_value());
    EXPECT_EQ(l.error().error, ListenError::address_not_available);
}

TEST(Listener, HandsEveryAcceptedSocketToItsOwnerAndNoneAfterClose) {
    asio::io_context io;
    auto l = Listener::open(io.get_executor(), loopback_any);
    ASSERT_TRUE(l.has_value());
    auto& listener = **l;
    std::vector<tcp::socket> accepted;
    listener.start([&](tcp::socket s) { accepted.push_back(std::move(s)); });
    const auto at = listener.local_endpoint();

    std::vector<tcp::socket> clients;
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back(io);
        clients.back().connect(at);
    }
    run_until(io, [&] { return accepted.size() == 3; });
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(accepted[i].remote_endpoint().port(), clients[i].local_endpoint().port());

    listener.close();
    EXPECT_FALSE(listener.is_open());
    tcp::socket late(io);
    boost::system::error_code ec;
    late.connect(at, ec);
    EXPECT_EQ(ec, asio::error::connection_refused);
    io.poll();
    EXPECT_EQ(accepted.size(), 3u);
}

TEST(Listener, DestroyedWhileAcceptingRunsNoHandler) {
    asio::io_context io;
    bool called = false;
    {
        auto l = Listener::open(io.get_executor(), loopback_any);
        ASSERT_TRUE(l.has_value());
        (*l)->start([&](tcp::socket) { called = true; });
        io.poll();  // the loop is now waiting in accept
    }
    io.run();  // the aborted accept completes; nothing may touch the destroyed owner
    EXPECT_FALSE(called);
}

TEST(Dial, ConnectsToTheFirstCandidateThatAcceptsWithNoDelaySet) {
    asio::io_context io;
    auto l = Listener::open(io.get_executor(), loopback_any);
    ASSERT_TRUE(l.has_value());
    int accepted = 0;
    (*l)->start([&](tcp::socket) { ++accepted; });
    const std::vector<tcp::endpoint> candidates{{loopback_any.address(), closed_port(io)}, (*l)->local_endpoint()};
    std::optional<util::Result<tcp::socket, DialError>> result;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { result = co_await dial(io.get_executor(), candidates, 10'000); },
        asio::detached);
    run_until(io, [&] { return result.has_value() && accepted == 1; });
    ASSERT_TRUE(result->has_value()) << describe(result->error());
    EXPECT_EQ((*result)->remote_endpoint(), candidates[1]);
    tcp::no_delay nd;
    (*result)->get_option(nd);
    EXPECT_TRUE(nd.value());
}

TEST(Dial, ReportsRefusalAndAnEmptyCandidateList) {
    asio::io_context io;
    const std::vector<tcp::endpoint> refused{{loopback_any.address(), closed_port(io)}};
    std::optional<util::Result<tcp::socket, DialError>> a, b;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            a = co_await dial(io.get_executor(), refused, 10'000);
            b = co_await dial(io.get_executor(), {}, 10'000);
        },
        asio::detached);
    run_until(io, [&] { return b.has_value(); });
    ASSERT_FALSE(a->has_value());
    EXPECT_EQ(a->error(), DialError::refused);
    ASSERT_FALSE(b->has_value());
    EXPECT_EQ(b->error(), DialError::no_address);
}

}  // namespace
}  // namespace conet::net
