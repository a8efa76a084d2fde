#pragma once
/// The exit's name resolution: a bounded pool of worker threads running the
/// system resolver (getaddrinfo), with real deadlines. A lookup that never
/// answers occupies one worker until the system resolver gives up, never the
/// exit: its caller is answered `timeout` at the deadline, later lookups go
/// to the other workers, and when every worker is stuck new lookups wait in a
/// bounded queue (and time out there) instead of piling up.

#include <memory>
#include <string>
#include <vector>

#include "conet/net/asio.hpp"
#include "conet/util/result.hpp"

namespace conet::relay {

enum class ResolveError { not_found, timeout, queue_full, stopped };
std::string_view describe(ResolveError e);

struct ResolverLimits {
    std::size_t workers = 4;
    std::size_t max_queue = 256;  ///< lookups waiting for a worker
    std::uint32_t timeout_ms = 5'000;
};

class ResolverPool {
public:
    ResolverPool(boost::asio::any_io_executor ex, ResolverLimits limits);
    /// Abandons lookups in progress (their workers finish on their own).
    ~ResolverPool();
    ResolverPool(const ResolverPool&) = delete;
    ResolverPool& operator=(const ResolverPool&) = delete;

    /// Resolves `host` (a DNS name) for TCP `port`; completes on the executor.
    net::awaitable<util::Result<std::vector<net::tcp::endpoint>, ResolveError>> resolve(std::string host,
                                                                                        std::uint16_t port);
    /// Lookups queued or running (for metrics and tests).
    std::size_t busy() const;

    struct Shared;

private:
    boost::asio::any_io_executor m_ex;
    ResolverLimits m_limits;
    std::shared_ptr<Shared> m_shared;
};

}  // namespace conet::relay
