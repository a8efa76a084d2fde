#pragma once
/// The prober (docs/incentives.md, "Probes"): a validator with `probe = true`
/// measures, once per epoch, the nodes the ledger assigns to it. A probe of
/// node X is a 2-hop circuit through X and a partner relay (an exit after X,
/// or an entry before X when X is the exit) carrying a stream to the
/// prober's own echo destination: a fresh random challenge must come back
/// intact (reachable), its round trip is the RTT, and an echoed transfer of
/// `bulk_bytes` gives the throughput. Up to `attempts` partners are tried
/// before X is reported unreachable (a dead partner must not sink X). The
/// results go into the validator's mempool as probe reports (one
/// transaction per 49 nodes) signed with its key.
///
/// Not provided yet: a stream to the prober's echo endpoint is recognisable
/// by the exit (it can learn the probers' addresses); an exit partner that
/// fails on purpose costs X an attempt, not its score, unless every partner
/// tried fails.

#include <functional>
#include <memory>

#include "conet/ledger/store.hpp"
#include "conet/net/asio.hpp"
#include "conet/proxy/client.hpp"

namespace conet::node {

struct ProberOptions {
    /// Where the echo destination listens (port 0: any free port); exits connect to it.
    ledger::Endpoint echo{"127.0.0.1", 0};
    bool allow_private_relays = false;        ///< devnet and tests: relays on loopback
    std::uint32_t probe_timeout_ms = 15'000;  ///< one attempt: circuit, stream, challenge and transfer
    std::size_t bulk_bytes = 256 * 1024;
    std::size_t attempts = 3;
};

/// The prober's echo destination accepts at most this many connections at
/// once and echoes at most this many bytes on each (anyone can reach it).
inline constexpr std::size_t max_echo_connections = 16;
inline constexpr std::size_t max_echo_bytes_per_connection = 1u << 20;
static_assert(max_echo_bytes_per_connection >= 256 * 1024 + 64);

class Prober {
public:
    /// Sends one report into the validator's mempool (signed with its key).
    using Submit = std::function<util::Result<void, std::string>(const ledger::ProbeReportPayload&)>;
    Prober(net::asio::io_context& io, const ledger::BlockStore& store, crypto::Address self, Submit submit,
           ProberOptions options);
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    /// Opens the echo listener and starts probing; an error (a port in use) says why.
    [[nodiscard]] util::Result<void, std::string> start();
    void stop();
    /// Prometheus lines: probes by outcome, reports sent and late.
    std::string metrics() const;

    struct Shared;  ///< everything the prober's coroutines share (they co-own it)

private:
    std::shared_ptr<Shared> m_shared;
};

}  // namespace conet::node
