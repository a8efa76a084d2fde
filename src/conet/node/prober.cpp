#include "conet/node/prober.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "conet/crypto/random.hpp"
#include "conet/net/listener.hpp"
#include "conet/proxy/path_select.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace asio = boost::asio;
using net::awaitable;
using net::tcp;
using net::use_nothrow;
using Clock = std::chrono::steady_clock;

struct Prober::Shared {
    Shared(asio::io_context& io_, const ledger::BlockStore& store_, crypto::Address self_, Submit submit_,
           ProberOptions options_)
        : io(io_),
          store(store_),
          self(self_),
          submit(std::move(submit_)),
          options(std::move(options_)),
          pair(io_),
          tick(io_) {}
    asio::io_context& io;
    const ledger::BlockStore& store;
    crypto::Address self;
    Submit submit;
    ProberOptions options;
    std::unique_ptr<net::Listener> echo;  ///< the destination probes' streams reach through the exit
    tcp::acceptor pair;                   ///< loopback only: joins the probe's socket to the circuit's stream
    asio::steady_timer tick;
    crypto::SystemRng rng;
    std::unique_ptr<proxy::Client> client;
    std::size_t echo_connections = 0;
    /// Every probe stream starts with this secret: the echo answers nobody
    /// else, so strangers cannot make it echo for them or hold its slots.
    util::ByteArray<16> echo_token{};
    std::uint64_t attempts = 0;
    bool stopped = false;
    std::uint64_t done_epoch = ~std::uint64_t{0};
    std::uint64_t probes_reachable = 0, probes_unreachable = 0, reports_sent = 0, reports_late = 0, reports_refused = 0;
};

namespace {

/// Closes `socket` when `ms` pass (a probe's deadline): every pending
/// operation on it then fails. The flag says whether it fired.
struct Deadline {
    std::shared_ptr<asio::steady_timer> timer;
    std::shared_ptr<bool> fired = std::make_shared<bool>(false);
    Deadline(asio::io_context& io, std::shared_ptr<tcp::socket> socket, std::uint32_t ms)
        : timer(std::make_shared<asio::steady_timer>(io)) {
        timer->expires_after(std::chrono::milliseconds(ms));
        timer->async_wait([socket, fired = fired](boost::system::error_code ec) {
            if (ec) return;
            *fired = true;
            boost::system::error_code ignored;
            socket->close(ignored);
        });
    }
    ~Deadline() { timer->cancel(); }
};

awaitable<void> echo_one(std::shared_ptr<Prober::Shared> shared, tcp::socket socket_in);

awaitable<void> echo_one(std::shared_ptr<Prober::Shared> shared, tcp::socket socket_in) {
    ++shared->echo_connections;
    auto socket = std::make_shared<tcp::socket>(std::move(socket_in));
    // A connection lives at most one probe's time, however slowly it talks.
    Deadline deadline(shared->io, socket, shared->options.probe_timeout_ms);
    util::ByteArray<16> token{};
    auto [tec, tn] = co_await asio::async_read(*socket, asio::buffer(token), use_nothrow);
    if (tec || token != shared->echo_token) {
        --shared->echo_connections;
        co_return;
    }
    std::array<std::uint8_t, 16 * 1024> buf{};
    std::size_t echoed = 0;
    while (!shared->stopped && echoed < max_echo_bytes_per_connection) {
        auto [ec, n] = co_await socket->async_read_some(asio::buffer(buf), use_nothrow);
        if (ec) break;
        n = std::min(n, max_echo_bytes_per_connection - echoed);
        auto [wec, written] = co_await asio::async_write(*socket, asio::buffer(buf.data(), n), use_nothrow);
        if (wec) break;
        echoed += written;
    }
    --shared->echo_connections;
}

/// Reads exactly `out.size()` bytes.
awaitable<bool> read_exactly(tcp::socket& s, std::span<std::uint8_t> out) {
    auto [ec, n] = co_await asio::async_read(s, asio::buffer(out.data(), out.size()), use_nothrow);
    co_return !ec && n == out.size();
}

awaitable<void> write_all(std::shared_ptr<tcp::socket> s, std::shared_ptr<util::Bytes> data) {
    (void)co_await asio::async_write(*s, asio::buffer(*data), use_nothrow);
}

/// One attempt through the client's current directory (X and one partner).
awaitable<std::optional<ledger::ProbeResult>> probe_once(std::shared_ptr<Prober::Shared> shared) {
    const ProberOptions& o = shared->options;
    const std::string isolation = "probe/" + std::to_string(shared->attempts++);
    // A socket pair over loopback: one end goes to the stream, we talk on the other.
    auto app = std::make_shared<tcp::socket>(shared->io);
    if (auto [ec] = co_await app->async_connect(shared->pair.local_endpoint(), use_nothrow); ec) co_return std::nullopt;
    tcp::socket stream_end(shared->io);
    for (;;) {  // anyone local could connect too: take only our own connection
        auto [ec, s] = co_await shared->pair.async_accept(use_nothrow);
        if (ec) co_return std::nullopt;
        boost::system::error_code e1, e2;
        if (s.remote_endpoint(e1) == app->local_endpoint(e2) && !e1 && !e2) {
            stream_end = std::move(s);
            break;
        }
    }
    Deadline deadline(shared->io, app, o.probe_timeout_ms);
    const auto echo_at = shared->echo->local_endpoint();
    const net::Target target{echo_at.address().to_string(), echo_at.port()};
    auto opened = co_await shared->client->open_stream(std::move(stream_end), target, isolation);
    if (!opened.ok) {
        opened.stream->abort();
        co_return std::nullopt;
    }
    opened.stream->start({});

    // The echo's token, then the challenge: fresh random bytes the node cannot have seen.
    if (auto [ec, n] = co_await asio::async_write(*app, asio::buffer(shared->echo_token), use_nothrow); ec) {
        opened.stream->abort();
        co_return std::nullopt;
    }
    util::ByteArray<32> challenge{};
    shared->rng.fill(challenge);
    const auto t1 = Clock::now();
    if (auto [ec, n] = co_await asio::async_write(*app, asio::buffer(challenge), use_nothrow); ec) {
        opened.stream->abort();
        co_return std::nullopt;
    }
    util::ByteArray<32> back{};
    if (!co_await read_exactly(*app, back) || back != challenge) {
        opened.stream->abort();
        co_return std::nullopt;
    }
    const auto rtt_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t1).count();
    ledger::ProbeResult result{true, static_cast<std::uint32_t>(std::clamp<long long>(rtt_ms, 1, 600'000)), 0};

    // The transfer: random bytes out and back, written and read at once.
    auto bulk = std::make_shared<util::Bytes>(o.bulk_bytes);
    shared->rng.fill(*bulk);
    const auto t2 = Clock::now();
    asio::co_spawn(shared->io, write_all(app, bulk), asio::detached);
    util::Bytes echoed(o.bulk_bytes);
    if (co_await read_exactly(*app, echoed) && echoed == *bulk) {
        const auto us =
            std::max<long long>(1, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t2).count());
        const auto kbps = static_cast<std::uint64_t>(o.bulk_bytes) * 8 * 1000 / static_cast<std::uint64_t>(us);
        result.throughput_kbps = static_cast<std::uint32_t>(std::min<std::uint64_t>(kbps, ~std::uint32_t{0}));
    }
    boost::system::error_code ignored;
    app->close(ignored);
    co_return result;
}

/// A relay that may carry a probe with the node probed.
struct Partner {
    ledger::NodeRecord record;
    bool staked = false;
    bool served_well = false;  ///< acceptable or better at its last measured epoch
};

bool can_pair(const ledger::NodeRecord& x, const ledger::NodeRecord& p, bool allow_private) {
    // Some 2-hop path (entry, exit) over {x, p} that the client's rules allow must exist.
    return ((x.is_entry() && p.is_exit()) || (p.is_entry() && x.is_exit())) &&
           proxy::may_share_path(x, p, allow_private);
}

/// X measured through up to `attempts` partners; none when no partner can pair with it.
awaitable<std::optional<ledger::ProbeResult>> probe_node(std::shared_ptr<Prober::Shared> shared, ledger::NodeRecord x,
                                                         std::vector<Partner> relays) {
    // Partners that served well last epoch come first, then other staked
    // ones, each group in a random order (no partner is always blamed
    // first): a swarm of unstaked relays that drop traffic cannot make
    // honest nodes fail their probes.
    std::vector<std::pair<int, ledger::NodeRecord>> partners;
    for (auto& r : relays) {
        if (r.record.noise_key == x.noise_key || !can_pair(x, r.record, shared->options.allow_private_relays)) continue;
        util::ByteArray<1> b{};
        shared->rng.fill(b);
        const int group = (r.served_well ? 0 : 2) + (r.staked ? 0 : 1);
        partners.emplace_back(group * 256 + b[0], std::move(r.record));
    }
    if (partners.empty()) co_return std::nullopt;
    std::sort(partners.begin(), partners.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t a = 0; a < partners.size() && a < shared->options.attempts && !shared->stopped; ++a) {
        shared->client->set_directory(ledger::Directory({x, partners[a].second}));
        auto r = co_await probe_once(shared);
        if (r) co_return r;
    }
    co_return ledger::ProbeResult{false, 0, 0};
}

awaitable<void> probe_loop(std::shared_ptr<Prober::Shared> shared);

}  // namespace

Prober::Prober(asio::io_context& io, const ledger::BlockStore& store, crypto::Address self, Submit submit,
               ProberOptions options)
    : m_shared(std::make_shared<Shared>(io, store, self, std::move(submit), std::move(options))) {}

Prober::~Prober() {
    stop();
}

util::Result<void, std::string> Prober::start() {
    Shared& s = *m_shared;
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(s.options.echo.host, ec);
    if (ec) return util::unexpected("probe_echo: " + s.options.echo.host + " is not an IP address");
    if (addr.is_unspecified())
        return util::unexpected("probe_echo: " + s.options.echo.host +
                                " is no address an exit can connect to: name this host's own address");
    s.rng.fill(s.echo_token);
    auto echo = net::Listener::open(s.io.get_executor(), tcp::endpoint(addr, s.options.echo.port));
    if (!echo) return util::unexpected("probe_echo: " + net::describe(echo.error()));
    s.echo = std::move(*echo);
    const tcp::endpoint pair_at(asio::ip::make_address("127.0.0.1"), 0);
    s.pair.open(pair_at.protocol(), ec);
    if (!ec) s.pair.bind(pair_at, ec);
    if (!ec) s.pair.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return util::unexpected("prober cannot listen on 127.0.0.1: " + ec.message());
    proxy::ClientOptions co;
    co.hops = 2;
    co.pool_size = 0;  // only isolated circuits, one per attempt
    co.max_isolated = 4;
    co.isolated_build_attempts = 1;  // one path per attempt: the prober picks the next partner itself
    co.build_timeout_ms = s.options.probe_timeout_ms;
    co.stream_timeout_ms = s.options.probe_timeout_ms;
    co.relay_retry_ms = 0;  // a partner that failed one attempt may pair with the next node
    co.allow_private_relays = s.options.allow_private_relays;
    s.client = std::make_unique<proxy::Client>(s.io, co, ledger::Directory{}, s.rng);
    s.client->start();
    const auto echo_at = s.echo->local_endpoint();
    spdlog::info("[prober] echo destination on {}:{}", echo_at.address().to_string(), echo_at.port());
    s.echo->start([weak = std::weak_ptr<Shared>(m_shared)](tcp::socket socket) {
        auto shared = weak.lock();
        if (!shared || shared->echo_connections >= max_echo_connections) return;  // the socket closes here
        asio::co_spawn(shared->io, echo_one(shared, std::move(socket)), asio::detached);
    });
    asio::co_spawn(s.io, probe_loop(m_shared), asio::detached);
    return {};
}

void Prober::stop() {
    Shared& s = *m_shared;
    if (s.stopped) return;
    s.stopped = true;
    boost::system::error_code ignored;
    if (s.echo) s.echo->close();
    s.pair.close(ignored);
    s.tick.cancel();
    if (s.client) s.client->stop();
}

namespace {

awaitable<void> probe_loop(std::shared_ptr<Prober::Shared> shared) {
    Prober::Shared& s = *shared;
    while (!s.stopped) {
        s.tick.expires_after(std::chrono::milliseconds(500));
        co_await s.tick.async_wait(use_nothrow);
        if (s.stopped) co_return;
        const ledger::State& state = s.store.state();
        const ledger::Params& params = state.params();
        const std::uint64_t epoch = state.epoch_info().epoch;
        if (params.epoch_blocks == 0 || epoch == s.done_epoch) continue;
        s.done_epoch = epoch;
        const auto& members = state.validator_set().members;
        if (std::find(members.begin(), members.end(), s.self) == members.end()) continue;
        std::vector<Partner> relays;
        std::vector<ledger::NodeRecord> assigned;
        const crypto::Hash256 seed = state.epoch_info().seed;
        for (const auto& [key, n] : state.nodes()) {
            if (n.service.jailed) continue;
            const bool served_well = n.service.scored && n.service.reports > 0 &&
                                     ledger::tier_of(n.service.score_bps) >= ledger::Tier::acceptable;
            relays.push_back(Partner{n.record, n.stake > 0, served_well});
            if (ledger::is_assigned_prober(seed, key, members, params.incentives.probers_per_node, s.self))
                assigned.push_back(n.record);
        }
        if (assigned.empty()) continue;
        spdlog::info("[prober] epoch {}: probing {} assigned node(s)", epoch, assigned.size());
        ledger::ProbeReportPayload report{epoch, {}};
        for (const auto& x : assigned) {
            auto r = co_await probe_node(shared, x, relays);
            if (s.stopped) co_return;
            if (!r) continue;  // no partner to build a circuit with: not reported
            (r->reachable ? s.probes_reachable : s.probes_unreachable)++;
            report.entries.push_back({x.noise_key, *r});
            if (!r->reachable)
                spdlog::info("[prober] epoch {}: node {} unreachable through {} partner(s)", epoch,
                             util::to_hex(x.noise_key).substr(0, 16), s.options.attempts);
        }
        if (s.store.state().epoch_info().epoch != epoch) {
            ++s.reports_late;
            spdlog::warn("[prober] epoch {} ended before its report was ready ({} node(s) probed)", epoch,
                         report.entries.size());
            continue;
        }
        for (std::size_t at = 0; at < report.entries.size(); at += ledger::ProbeReportPayload::max_entries) {
            ledger::ProbeReportPayload part{epoch, {}};
            const std::size_t end = std::min(report.entries.size(), at + ledger::ProbeReportPayload::max_entries);
            part.entries.assign(report.entries.begin() + static_cast<std::ptrdiff_t>(at),
                                report.entries.begin() + static_cast<std::ptrdiff_t>(end));
            if (auto sent = s.submit(part); !sent) {
                ++s.reports_refused;
                spdlog::warn("[prober] epoch {}: report refused: {}", epoch, sent.error());
            } else {
                ++s.reports_sent;
            }
        }
        spdlog::info("[prober] epoch {}: reported {} node(s)", epoch, report.entries.size());
    }
}

}  // namespace

std::string Prober::metrics() const {
    const Shared& s = *m_shared;
    std::string out;
    out += "# TYPE conet_prober_probes_total counter\n";
    out += "conet_prober_probes_total{result=\"reachable\"} " + std::to_string(s.probes_reachable) + "\n";
    out += "conet_prober_probes_total{result=\"unreachable\"} " + std::to_string(s.probes_unreachable) + "\n";
    out += "# TYPE conet_prober_reports_total counter\n";
    out += "conet_prober_reports_total{result=\"sent\"} " + std::to_string(s.reports_sent) + "\n";
    out += "conet_prober_reports_total{result=\"late\"} " + std::to_string(s.reports_late) + "\n";
    out += "conet_prober_reports_total{result=\"refused\"} " + std::to_string(s.reports_refused) + "\n";
    return out;
}

}  // namespace conet::node
