#pragma once
/// The user's side of circuits: picks relays from the verified directory,
/// builds telescoping circuits (CREATE to the entry, EXTEND through it, an NK
/// handshake with every later hop), keeps a pool of ready circuits, opens
/// streams on them and fails over when a relay dies (docs/protocol.md).

#include <map>
#include <memory>
#include <set>

#include <boost/json/value.hpp>

#include "conet/ledger/node_record.hpp"
#include "conet/ledger/usage.hpp"
#include "conet/net/link.hpp"
#include "conet/net/stream.hpp"
#include "conet/proxy/circuit_core.hpp"
#include "conet/proxy/path_select.hpp"

namespace conet::proxy {

namespace asio = boost::asio;
using net::awaitable;
using net::tcp;

/// The user's wallet pays exits for the bytes they carry (docs/incentives.md
/// "Paid usage"): the proxy signs cumulative receipts per (exit, entry,
/// epoch) and sends them to the exit only, inside the exit's onion layer.
struct WalletOptions {
    std::shared_ptr<const crypto::PrivateKey> key;
    std::uint64_t chain_id = 0;
    std::uint64_t price_per_mib = 0;               ///< for the spend shown on /status
    std::uint64_t receipt_every_bytes = 1u << 20;  ///< a new receipt when this much more was carried
};

struct ClientOptions {
    std::size_t hops = 2;       ///< 2 or 3
    std::string exit_region;    ///< empty: any
    std::size_t pool_size = 3;  ///< ready circuits kept for new streams
    std::uint32_t build_timeout_ms = 10'000;
    std::uint32_t stream_timeout_ms = 20'000;
    std::uint32_t max_circuit_age_ms = 10 * 60 * 1000;  ///< then new streams use a fresh circuit
    std::uint32_t relay_retry_ms = 30'000;              ///< how long a failed relay is avoided
    std::size_t max_isolated = 64;  ///< circuits for distinct SOCKS credentials; idle ones are retired first
    /// Builds one open_stream may start for an isolated circuit before it
    /// gives up (0: until build_timeout_ms). The prober tries one path per call.
    std::size_t isolated_build_attempts = 0;
    std::uint32_t entry_rtt_max_age_ms = 10 * 60 * 1000;  ///< then an entry's latency is measured again
    std::size_t entry_guards = default_entry_guards;      ///< entries in use at once (path_select.hpp)
    /// Devnet only: accept relays on loopback, private, link-local and CGNAT
    /// addresses, and several relays of one /16 (or /32) on a path. Names are
    /// refused even then: the user never resolves a relay's name.
    bool allow_private_relays = false;
    net::LinkLimits link_limits;
    std::optional<WalletOptions> wallet;  ///< none: circuits ride the exits' free tier, if any
};

class ClientCircuit;
struct EntryLink;

/// Why a route (hops and exit region) was refused.
enum class RouteError { bad_hops, bad_region, no_exit_in_region };
std::string_view describe(RouteError e);

/// Result of opening a stream: the stream owns the application socket either
/// way, so the caller can write its protocol's reply on it.
struct StreamOpen {
    std::shared_ptr<net::SocketStream> stream;
    bool ok = false;
    net::EndReason reason = net::EndReason::misc;
};

class Client {
public:
    Client(asio::io_context& io, ClientOptions options, ledger::Directory directory, util::Rng& rng);
    ~Client();

    void start();
    void stop();
    /// Replaces the known relays (e.g. after a ledger refresh); circuits built
    /// from the old set keep working until they end.
    void set_directory(ledger::Directory directory);
    std::size_t relays_known() const { return m_directory.records().size(); }
    /// Records refused by the address rule in the last directory given.
    std::size_t relays_refused() const { return m_relays_refused; }

    /// From now on circuits take `hops` relays (2 or 3) and an exit in
    /// `exit_region` (ISO 3166 alpha-2; empty: any). Circuits built for the
    /// old route take no new streams; streams already on them finish there.
    util::Result<void, RouteError> set_route(std::size_t hops, std::string exit_region);
    /// Regions with at least one usable exit, sorted.
    std::vector<std::string> exit_regions() const;

    /// A ready circuit for this isolation key (empty: the shared pool).
    awaitable<std::shared_ptr<ClientCircuit>> circuit_for(std::string isolation);
    awaitable<StreamOpen> open_stream(tcp::socket socket, net::Target target, std::string isolation);

    boost::json::value status() const;
    /// The ledger's view for the wallet (from the proxy's ledger sync).
    void set_epoch(std::uint64_t epoch);
    void set_prepaid(std::uint64_t prepaid) { m_prepaid = prepaid; }

    // Used by circuits: paid usage.
    void on_payload(ClientCircuit& c, std::size_t n);
    void circuit_ready(ClientCircuit& c);
    /// An exit refused or cut off a stream for payment: logged once per reason.
    void note_refusal(net::EndReason reason);

    // Used by circuits.
    void circuit_died(ClientCircuit& c, const CircuitDeath& death, bool link_failed);
    void note_entry_rtt(const crypto::X25519Public& entry, std::chrono::steady_clock::duration rtt);
    util::Rng& rng() { return m_rng; }
    asio::io_context& io() { return m_io; }

private:
    awaitable<void> maintain_loop();
    awaitable<void> build(std::shared_ptr<ClientCircuit> circ);
    awaitable<std::shared_ptr<EntryLink>> entry_link(const ledger::NodeRecord& entry);
    std::vector<ledger::NodeRecord> choose_path();
    std::vector<ledger::NodeRecord> choose_path(bool avoid_failed);
    bool relay_failed(const crypto::X25519Public& key) const;
    void mark_failed(const ledger::NodeRecord& node, const std::string& why);
    std::shared_ptr<ClientCircuit> start_build(std::string isolation);
    /// Makes room for one more isolated circuit; false when every one is busy.
    bool make_room_for_isolated();
    using Clock = std::chrono::steady_clock;
    /// Keeps the records whose endpoints the address rule allows.
    ledger::Directory usable(ledger::Directory directory);

    asio::io_context& m_io;
    ClientOptions m_options;
    ledger::Directory m_directory;
    std::size_t m_relays_refused = 0;
    std::set<crypto::X25519Public> m_refused_keys;  ///< refused in the last directory (logged once)
    EntryGuards m_guards;
    util::Rng& m_rng;
    std::vector<std::shared_ptr<ClientCircuit>> m_pool;
    std::map<std::string, std::shared_ptr<ClientCircuit>> m_isolated;
    std::map<crypto::X25519Public, std::shared_ptr<EntryLink>> m_links;
    std::map<crypto::X25519Public, std::chrono::steady_clock::time_point> m_failed_until;
    struct EntryRtt {
        double ms = 0;
        Clock::time_point measured_at;
    };
    std::map<crypto::X25519Public, EntryRtt> m_entry_rtt;
    net::Signal m_pool_changed;
    asio::steady_timer m_tick;
    std::size_t m_round_robin = 0;
    std::uint64_t m_closed_bytes_sent = 0, m_closed_bytes_received = 0;
    std::uint64_t m_circuits_built = 0, m_circuits_failed = 0, m_streams_opened = 0;
    bool m_stopped = false;

    /// Sends receipts to `c`'s exit for every (entry, epoch) with bytes not yet receipted.
    void send_receipts(ClientCircuit& c, bool even_if_nothing_new);
    /// Receipts for what was carried since the last ones, to every exit a ready circuit reaches.
    void flush_receipts();
    boost::json::value wallet_status() const;
    struct UsageKey {
        crypto::X25519Public exit;
        std::uint64_t epoch;
        crypto::X25519Public entry;
        auto operator<=>(const UsageKey&) const = default;
    };
    struct UsageCount {
        std::uint64_t carried = 0, receipted = 0;
    };
    void send_receipt(ClientCircuit& c, const WalletOptions& w, const UsageKey& k, std::uint64_t bytes);
    std::map<UsageKey, UsageCount> m_usage;
    std::optional<std::uint64_t> m_epoch;
    std::optional<std::uint64_t> m_prepaid;
    std::optional<net::EndReason> m_refused;  ///< the last payment refusal from an exit
};

}  // namespace conet::proxy
