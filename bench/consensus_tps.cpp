// Consensus throughput and latency: signed transfers from many senders sent
// to every validator of a running network (bench/consensus.py starts four on
// loopback), committed transfers per second and submit-to-commit latency,
// against the raw secp256k1 public-key recovery rate measured in the same run.
// Goals (issue 8): >= 2,000 tx/s; p50 <= 50 ms; p99 <= 200 ms.
//
//   conet_bench_consensus fund --genesis FILE --seed S --senders N
//       adds N sender accounts, derived from the seed, to a genesis file
//       that no node has started from yet.
//   conet_bench_consensus run --genesis FILE --rpc URL [--rpc URL ...] --seed S --senders N
//       [--txs 40000] [--latency-txs 5000] [--latency-rate 0 (auto)] [--threads 4]
//       [--batch 100] [--latency-batch 10] [--window 8000]
//
// Why every transaction goes to every validator: it is the worst case for
// admission work (validators also pass client transactions on to each other,
// so one would do). Each validator admits it once (signature recovery
// included; the copies that arrive by gossip are refused as duplicates before
// any recovery); whichever leads next puts it in a block; the others drop it
// when the block is final.
//
// Phase 1 (throughput) sends as fast as the nodes answer, keeping at most
// --window transactions sent but not yet committed (the mempool holds 20,000).
// Phase 2 (latency) sends at a fixed rate below that, in small batches, so
// the latency is not the queue of a saturated pipeline.
//
// Commits are observed through one "newHeads" WebSocket subscription per
// validator (pushed by the node after each durable commit), not by polling
// transactions.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

#include "bench_common.hpp"

using namespace conet;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using bench::recover_rate;
using bench::seconds_since;

namespace {

constexpr double goal_tps = 2000;
constexpr double goal_p50_ms = 50;
constexpr double goal_p99_ms = 200;
/// Each sender's balance in the genesis: far more than any run spends.
constexpr std::uint64_t sender_balance = 1'000'000'000'000;
/// A phase ends when nothing new commits for this long.
constexpr auto stall_timeout = std::chrono::seconds(30);

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "conet_bench_consensus: %s\n", why.c_str());
    std::exit(1);
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double k = (v.size() - 1) * p / 100;
    const auto lo = static_cast<std::size_t>(k);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (k - lo);
}

// ---- options ------------------------------------------------------------------------

struct Options {
    std::string genesis;
    std::vector<std::string> rpc;
    std::uint64_t seed = 1;
    std::size_t senders = 2000;
    std::size_t txs = 40000;
    std::size_t latency_txs = 5000;
    double latency_rate = 0;  ///< 0: half the throughput phase's rate, at most 1,000/s
    std::size_t threads = 4;
    std::size_t batch = 100;
    std::size_t latency_batch = 10;
    std::size_t window = 8000;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 2; i < argc; ++i) {
        const std::string name = argv[i];
        if (i + 1 >= argc) die(name + " needs a value");
        const std::string value = argv[++i];
        auto number = [&] {
            char* end = nullptr;
            const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end) die(name + " must be a number: " + value);
            return static_cast<std::size_t>(v);
        };
        if (name == "--genesis")
            o.genesis = value;
        else if (name == "--rpc")
            o.rpc.push_back(value);
        else if (name == "--seed")
            o.seed = number();
        else if (name == "--senders")
            o.senders = number();
        else if (name == "--txs")
            o.txs = number();
        else if (name == "--latency-txs")
            o.latency_txs = number();
        else if (name == "--latency-rate")
            o.latency_rate = static_cast<double>(number());
        else if (name == "--threads")
            o.threads = number();
        else if (name == "--batch")
            o.batch = number();
        else if (name == "--latency-batch")
            o.latency_batch = number();
        else if (name == "--window")
            o.window = number();
        else
            die("unknown option " + name);
    }
    if (o.genesis.empty()) die("--genesis is required");
    if (o.senders == 0 || o.threads == 0 || o.batch == 0 || o.batch > 100 || o.latency_batch == 0 ||
        o.latency_batch > 100)
        die("--senders and --threads must be positive, --batch and --latency-batch in 1..100 (the RPC's batch limit)");
    return o;
}

ledger::Genesis read_genesis(const std::string& path) {
    auto text = util::read_file(path, 64u << 20);
    if (!text) die(path + ": " + text.error().message());
    auto g = ledger::Genesis::from_json(*text);
    if (!g) die(path + ": " + g.error());
    return *g;
}

/// The senders' keys: a pure function of the seed.
std::vector<crypto::PrivateKey> sender_keys(std::uint64_t seed, std::size_t n) {
    crypto::SeededRng rng(seed);
    std::vector<crypto::PrivateKey> keys;
    keys.reserve(n);
    for (std::size_t i = 0; i < n; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
    return keys;
}

int fund(const Options& o) {
    ledger::Genesis g = read_genesis(o.genesis);
    for (const auto& k : sender_keys(o.seed, o.senders)) g.balances.emplace_back(k.address(), sender_balance);
    if (auto s = g.state(); !s) die(s.error());
    const std::string text = g.to_json();
    if (auto w = util::write_file_atomic(o.genesis, util::as_bytes(text), 0644, util::Overwrite::yes); !w)
        die(o.genesis + ": " + w.error().message());
    std::printf("funded %zu senders (seed %llu) in %s\n", o.senders, static_cast<unsigned long long>(o.seed),
                o.genesis.c_str());
    return 0;
}

// ---- the load: pre-signed transactions in pre-built JSON-RPC batches -----------------------

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
};

Endpoint parse_url(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    if (url.rfind(scheme, 0) != 0) die("URL must be http://host:port: " + url);
    const std::string rest = url.substr(scheme.size());
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) die("URL needs a port: " + url);
    return {rest.substr(0, colon), static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1)))};
}

struct Batch {
    std::size_t first = 0;  ///< index of its first transaction
    std::size_t count = 0;
    std::string body;  ///< the JSON-RPC batch; request id k is transaction first + k
};

struct Plan {
    std::vector<std::string> ids;  ///< "0x…" transaction ids, as the node writes them
    std::unordered_map<std::string, std::size_t> index_of;
    std::vector<Batch> throughput, latency;
};

std::vector<Batch> make_batches(const std::vector<std::string>& hex, std::size_t begin, std::size_t end,
                                std::size_t size) {
    std::vector<Batch> out;
    for (std::size_t first = begin; first < end; first += size) {
        Batch b{first, std::min(size, end - first), "["};
        for (std::size_t k = 0; k < b.count; ++k) {
            if (k) b.body += ',';
            b.body += R"({"jsonrpc":"2.0","id":)" + std::to_string(k) +
                      R"(,"method":"conet_sendRawTransaction","params":[")" + hex[first + k] + "\"]}";
        }
        b.body += ']';
        out.push_back(std::move(b));
    }
    return out;
}

/// One keep-alive HTTP/1.1 connection; blocking, used by one thread.
class HttpConnection {
public:
    HttpConnection(asio::io_context& io, const Endpoint& ep)
        : m_socket(io), m_host(ep.host + ":" + std::to_string(ep.port)) {
        m_socket.connect({asio::ip::make_address(ep.host), ep.port});
        m_socket.set_option(tcp::no_delay(true));
    }
    void send(const std::string& body) {
        http::request<http::string_body> req{http::verb::post, "/", 11};
        req.set(http::field::host, m_host);
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        http::write(m_socket, req);
    }
    std::string receive() {
        http::response_parser<http::string_body> parser;
        parser.body_limit(64u << 20);
        http::read(m_socket, m_buffer, parser);
        return std::move(parser.get().body());
    }

private:
    tcp::socket m_socket;
    std::string m_host;
    beast::flat_buffer m_buffer;
};

// ---- what the validators commit ---------------------------------------------------------------

struct BlockSeen {
    std::uint64_t view = 0;
    std::size_t txs = 0;
    std::int64_t first_ns = 0, last_ns = 0;
    std::size_t validators_seen = 0;
};

class Tracker {
public:
    explicit Tracker(const Plan& plan)
        : m_plan(plan), m_commit_ns(plan.ids.size(), 0), m_commit_height(plan.ids.size(), 0) {}

    void on_head(const json::value& head, std::int64_t t) {
        const auto& h = head.at("header");
        const std::uint64_t height = h.at("height").to_number<std::uint64_t>();
        std::lock_guard lock(m_mutex);
        auto [it, fresh] = m_blocks.try_emplace(height);
        BlockSeen& b = it->second;
        ++b.validators_seen;
        b.last_ns = t;
        if (!fresh) return;
        b.first_ns = t;
        b.view = h.at("view").to_number<std::uint64_t>();
        const auto& txs = head.at("transactions").as_array();
        b.txs = txs.size();
        for (const auto& id : txs) {
            auto found = m_plan.index_of.find(std::string(id.as_string()));
            if (found == m_plan.index_of.end() || m_commit_ns[found->second]) continue;
            m_commit_ns[found->second] = t;
            m_commit_height[found->second] = height;
            m_committed.fetch_add(1, std::memory_order_relaxed);
        }
    }
    std::size_t committed() const { return m_committed.load(std::memory_order_relaxed); }
    std::int64_t commit_ns(std::size_t i) const {
        std::lock_guard lock(m_mutex);
        return m_commit_ns[i];
    }
    std::uint64_t commit_height(std::size_t i) const {
        std::lock_guard lock(m_mutex);
        return m_commit_height[i];
    }
    std::map<std::uint64_t, BlockSeen> blocks() const {
        std::lock_guard lock(m_mutex);
        return m_blocks;
    }

private:
    const Plan& m_plan;
    mutable std::mutex m_mutex;
    std::vector<std::int64_t> m_commit_ns;
    std::vector<std::uint64_t> m_commit_height;
    std::map<std::uint64_t, BlockSeen> m_blocks;
    std::atomic<std::size_t> m_committed{0};
};

asio::awaitable<void> watch_heads(Endpoint ep, Tracker& tracker, std::atomic<int>& subscribed) {
    auto ex = co_await asio::this_coro::executor;
    beast::websocket::stream<beast::tcp_stream> ws(ex);
    co_await beast::get_lowest_layer(ws).async_connect(tcp::endpoint{asio::ip::make_address(ep.host), ep.port},
                                                       asio::use_awaitable);
    beast::get_lowest_layer(ws).expires_never();
    co_await ws.async_handshake(ep.host + ":" + std::to_string(ep.port), "/", asio::use_awaitable);
    const std::string sub = R"({"jsonrpc":"2.0","id":1,"method":"conet_subscribe","params":["newHeads"]})";
    co_await ws.async_write(asio::buffer(sub), asio::use_awaitable);
    for (;;) {
        beast::flat_buffer buf;
        co_await ws.async_read(buf, asio::use_awaitable);
        const std::int64_t t = now_ns();
        const json::value msg = json::parse(beast::buffers_to_string(buf.data()));
        const auto& o = msg.as_object();
        if (o.contains("result") && o.contains("id")) {
            subscribed.fetch_add(1);
            continue;
        }
        if (const auto* params = o.if_contains("params")) tracker.on_head(params->at("result"), t);
    }
}

// ---- one phase ----------------------------------------------------------------------------------

struct PhaseResult {
    std::size_t sent = 0, accepted = 0, committed = 0;
    double send_s = 0;
    std::map<std::string, std::size_t> rejections;  ///< reason -> answers (one per validator)
};

/// Sends `batches` to every validator from `threads` threads, at `rate` tx/s
/// (0: as fast as answered), never more than `window` uncommitted; then waits
/// for them to commit.
PhaseResult run_phase(const Options& o, const std::vector<Endpoint>& endpoints, const std::vector<Batch>& batches,
                      double rate, std::vector<std::int64_t>& submit_ns, const Tracker& tracker) {
    PhaseResult r;
    if (batches.empty()) return r;
    const std::size_t first_tx = batches.front().first;
    const std::size_t committed_before = tracker.committed();
    std::atomic<std::size_t> next{0}, sent{0}, accepted{0};
    std::mutex reasons_mutex;
    std::function<void()> send_batches;
    const auto t0 = Clock::now();
    auto worker = [&] {
        try {
            send_batches();
        } catch (const std::exception& e) {
            // A validator that closes or resets the connection ends the run: its answers are lost.
            die(std::string("sending to the validators failed: ") + e.what());
        }
    };
    send_batches = [&] {
        asio::io_context io;
        std::vector<HttpConnection> conns;
        for (const auto& ep : endpoints) conns.emplace_back(io, ep);
        std::map<std::string, std::size_t> reasons;
        for (;;) {
            const std::size_t b = next.fetch_add(1);
            if (b >= batches.size()) break;
            const Batch& batch = batches[b];
            if (rate > 0)
                std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>((batch.first - first_tx) / rate)));
            while (sent.load() - (tracker.committed() - committed_before) + batch.count > o.window)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            const std::int64_t t = now_ns();
            for (std::size_t k = 0; k < batch.count; ++k) submit_ns[batch.first + k] = t;
            sent += batch.count;
            for (auto& c : conns) c.send(batch.body);
            std::vector<std::uint8_t> ok(batch.count, 0);
            for (auto& c : conns) {
                const json::value answer = json::parse(c.receive());
                for (const auto& a : answer.as_array()) {
                    const auto k = a.at("id").to_number<std::size_t>();
                    if (a.as_object().contains("result"))
                        ok.at(k) = 1;
                    else
                        ++reasons[std::string(a.at("error").at("message").as_string())];
                }
            }
            accepted += std::count(ok.begin(), ok.end(), 1);
        }
        std::lock_guard lock(reasons_mutex);
        for (const auto& [why, n] : reasons) r.rejections[why] += n;
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < o.threads; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    r.send_s = seconds_since(t0);
    r.sent = sent;
    r.accepted = accepted;
    // Wait for the commits: done when all accepted ones are in, or nothing moved for a while.
    std::size_t last = tracker.committed();
    auto last_change = Clock::now();
    while (tracker.committed() - committed_before < r.accepted && Clock::now() - last_change < stall_timeout) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (tracker.committed() != last) {
            last = tracker.committed();
            last_change = Clock::now();
        }
    }
    r.committed = tracker.committed() - committed_before;
    return r;
}

struct Figures {
    double tps = 0, window_s = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
    std::size_t blocks = 0, empty_blocks = 0, views = 0, txs_in_blocks = 0;
    double block_gap_p50_ms = 0, block_gap_p99_ms = 0, spread_p50_ms = 0, spread_max_ms = 0;
};

/// The figures of the transactions [begin, end): window = first to last block holding any of them.
Figures figures(const Tracker& tracker, const std::vector<std::int64_t>& submit_ns, std::size_t begin,
                std::size_t end) {
    Figures f;
    std::vector<double> latency;
    for (std::size_t i = begin; i < end; ++i)
        if (const auto c = tracker.commit_ns(i); c && submit_ns[i]) latency.push_back((c - submit_ns[i]) / 1e6);
    f.p50_ms = percentile(latency, 50);
    f.p99_ms = percentile(latency, 99);
    f.max_ms = latency.empty() ? 0 : *std::max_element(latency.begin(), latency.end());
    // Window: the first to the last block holding any of [begin, end).
    std::map<std::uint64_t, std::size_t> per_height;
    for (std::size_t i = begin; i < end; ++i)
        if (const auto h = tracker.commit_height(i)) ++per_height[h];
    const auto blocks = tracker.blocks();
    if (per_height.empty()) return f;
    const std::uint64_t first_h = per_height.begin()->first, last_h = per_height.rbegin()->first;
    const std::size_t first_block_ours = per_height.begin()->second;
    const std::int64_t first_ns = blocks.at(first_h).first_ns, last_ns = blocks.at(last_h).first_ns;
    const std::size_t committed = latency.size();
    f.window_s = (last_ns - first_ns) / 1e9;
    // The first block's transactions arrived before the window opened.
    if (f.window_s > 0) f.tps = (committed - std::min(committed, first_block_ours)) / f.window_s;
    std::vector<double> gaps, spread;
    std::int64_t prev_ns = 0;
    std::uint64_t prev_view = 0;
    for (auto it = blocks.find(first_h); it != blocks.end() && it->first <= last_h; ++it) {
        const BlockSeen& b = it->second;
        ++f.blocks;
        f.txs_in_blocks += b.txs;
        f.empty_blocks += b.txs == 0;
        if (prev_ns) {
            gaps.push_back((b.first_ns - prev_ns) / 1e6);
            f.views += b.view - prev_view;
        }
        prev_ns = b.first_ns;
        prev_view = b.view;
        spread.push_back((b.last_ns - b.first_ns) / 1e6);
    }
    f.block_gap_p50_ms = percentile(gaps, 50);
    f.block_gap_p99_ms = percentile(gaps, 99);
    f.spread_p50_ms = percentile(spread, 50);
    f.spread_max_ms = spread.empty() ? 0 : *std::max_element(spread.begin(), spread.end());
    return f;
}

void print_phase(const char* name, const PhaseResult& r, const Figures& f, std::size_t validators) {
    std::printf(
        "\n%s: %zu transfers sent to each of %zu validators in %.1f s (offered %.0f tx/s), "
        "accepted by at least one: %zu, committed: %zu\n",
        name, r.sent, validators, r.send_s, r.sent / std::max(r.send_s, 1e-9), r.accepted, r.committed);
    if (!r.rejections.empty()) {
        std::printf("  rejected answers (one per validator; \"stale nonce\" = the block was already final there):\n");
        for (const auto& [why, n] : r.rejections) std::printf("    %8zu  %s\n", n, why.c_str());
    }
    std::printf(
        "  window (first to last block holding them): %.2f s, %zu blocks (%zu empty), %.1f blocks/s, "
        "%.0f tx/block, %zu views for %zu blocks\n",
        f.window_s, f.blocks, f.empty_blocks, f.window_s > 0 ? (f.blocks - 1) / f.window_s : 0,
        f.blocks ? static_cast<double>(f.txs_in_blocks) / f.blocks : 0, f.views, f.blocks ? f.blocks - 1 : 0);
    std::printf(
        "  between consecutive blocks (first validator's push): p50 %.1f ms, p99 %.1f ms; "
        "first to last validator's push of one block: p50 %.1f ms, max %.1f ms\n",
        f.block_gap_p50_ms, f.block_gap_p99_ms, f.spread_p50_ms, f.spread_max_ms);
}

void print_ratio_tps(double tps, double recover) {
    std::printf("  committed transfers:            %8.0f /s   %.2fx goal (>= %.0f)   %.3fx recover rate\n", tps,
                tps / goal_tps, goal_tps, tps / recover);
}

void print_latency(const Figures& f) {
    std::printf("  submit -> commit latency p50:   %8.1f ms  %.2fx goal (<= %.0f ms)%s\n", f.p50_ms,
                f.p50_ms / goal_p50_ms, goal_p50_ms, f.p50_ms <= goal_p50_ms ? "" : "  NOT MET");
    std::printf("  submit -> commit latency p99:   %8.1f ms  %.2fx goal (<= %.0f ms)%s   (max %.1f ms)\n", f.p99_ms,
                f.p99_ms / goal_p99_ms, goal_p99_ms, f.p99_ms <= goal_p99_ms ? "" : "  NOT MET", f.max_ms);
}

int run(const Options& o) {
    if (o.rpc.empty()) die("give each validator's --rpc URL");
    const ledger::Genesis genesis = read_genesis(o.genesis);
    std::vector<Endpoint> endpoints;
    for (const auto& u : o.rpc) endpoints.push_back(parse_url(u));

    // Transaction i: sender i mod N, nonce i / N, to the next sender, fee = the genesis minimum.
    const std::size_t total = o.txs + o.latency_txs;
    auto t0 = Clock::now();
    const auto keys = sender_keys(o.seed, o.senders);
    Plan plan;
    std::vector<std::string> hex;
    hex.reserve(total);
    plan.ids.reserve(total);
    for (std::size_t i = 0; i < total; ++i) {
        const std::size_t s = i % o.senders;
        const auto tx = ledger::make_transaction(keys[s], genesis.chain_id, i / o.senders, genesis.params.min_fee,
                                                 ledger::TxKind::transfer,
                                                 ledger::TransferPayload{keys[(s + 1) % o.senders].address(), 1});
        hex.push_back(util::to_hex_prefixed(codec::encode(tx)));
        plan.ids.push_back(util::to_hex_prefixed(tx.hash()));
        plan.index_of.emplace(plan.ids.back(), i);
    }
    plan.throughput = make_batches(hex, 0, o.txs, o.batch);
    plan.latency = make_batches(hex, o.txs, total, o.latency_batch);
    const double sign_s = seconds_since(t0);

    const double recover = recover_rate();

    Tracker tracker(plan);
    std::vector<std::int64_t> submit_ns(total, 0);
    asio::io_context watch_io;
    std::atomic<int> subscribed{0};
    for (const auto& ep : endpoints)
        asio::co_spawn(watch_io, watch_heads(ep, tracker, subscribed), [&ep](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "newHeads from %s:%u ended: %s\n", ep.host.c_str(), ep.port, x.what());
            }
        });
    std::thread watcher([&] { watch_io.run(); });
    t0 = Clock::now();
    while (subscribed.load() < static_cast<int>(endpoints.size())) {
        if (seconds_since(t0) > 10) die("newHeads subscriptions did not all answer within 10 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    std::printf(
        "consensus: %zu validators, signed transfers from %zu senders; each transfer is sent to EVERY "
        "validator's RPC\n  (the worst case for admission; validators also gossip transactions, so one would do), "
        "in JSON-RPC batches over keep-alive HTTP/1.1, %zu sender threads x %zu connections\n",
        endpoints.size(), o.senders, o.threads, endpoints.size());
    std::printf("  signing %zu transfers (client, before the run): %.2f s (%.0f /s)\n", total, sign_s, total / sign_s);
    std::printf(
        "  secp256k1 recover, one core:    %8.0f /s   (each transfer is recovered at admission by each of "
        "the %zu validators, and again when executed)\n",
        recover, endpoints.size());

    const PhaseResult p1 = run_phase(o, endpoints, plan.throughput, 0, submit_ns, tracker);
    const Figures f1 = figures(tracker, submit_ns, 0, o.txs);
    print_phase("throughput phase (as fast as the validators answer)", p1, f1, endpoints.size());
    std::printf("  (at most %zu sent and not yet committed: the latency here includes that queue)\n", o.window);
    print_ratio_tps(f1.tps, recover);
    print_latency(f1);

    if (o.latency_txs) {
        const double rate = o.latency_rate > 0 ? o.latency_rate : std::max(50.0, std::min(1000.0, f1.tps / 2));
        const PhaseResult p2 = run_phase(o, endpoints, plan.latency, rate, submit_ns, tracker);
        const Figures f2 = figures(tracker, submit_ns, o.txs, total);
        char name[96];
        std::snprintf(name, sizeof name, "latency phase (fixed rate %.0f tx/s, batches of %zu)", rate, o.latency_batch);
        print_phase(name, p2, f2, endpoints.size());
        print_ratio_tps(f2.tps, recover);
        print_latency(f2);
    }
    std::printf(
        "\nlatency = from the client writing the batch holding the transfer to the first validator's "
        "\"newHeads\" push of the block holding it\n  (the push follows the durable commit of the "
        "finalized block). Proposal-to-finalization is measured by the validators themselves\n  "
        "(conet_consensus_finality_latency_ms on /metrics; bench/consensus.py prints it after this run).\n");
    watch_io.stop();
    watcher.join();
    const bool complete = p1.committed == p1.accepted;
    return complete ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
    crypto::initialize();
    if (argc < 2) die("usage: conet_bench_consensus fund|run --genesis FILE ... (see the comment at the top)");
    const Options o = parse_options(argc, argv);
    if (std::strcmp(argv[1], "fund") == 0) return fund(o);
    if (std::strcmp(argv[1], "run") == 0) return run(o);
    die(std::string("unknown command ") + argv[1]);
}
