// Relay cell dispatch: a real RelayServer on 127.0.0.1 fed fuzzer-chosen cells
// over a real client link. Exit service is off and the directory is empty, so
// the relay dials nothing and resolves nothing: all traffic stays on loopback.
// The relay must never crash, and once the link is gone it must hold no link,
// circuit, stream or queued byte.
//
// Input: a sequence of ops [u8 kind][u16 big-endian length][bytes]:
//   kind % 3 == 0  a raw link cell (u32 circuit id | u8 command | body) as given
//   kind % 3 == 1  a relay message (u8 command | u32 stream id | body) sealed for
//                  the input's own circuit, whose hop is made with a real CREATE
//                  (NK handshake) the first time it is needed
//   kind % 3 == 2  let the relay run before the next op

#include <prometheus/registry.h>

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/net/cell.hpp"
#include "conet/net/circuit_handshake.hpp"
#include "conet/net/link.hpp"
#include "conet/relay/relay.hpp"

namespace {
using namespace conet;
namespace asio = boost::asio;
using net::tcp;

constexpr std::uint32_t hop_circuit_id = 0x7fff0001;

struct Harness {
    asio::io_context io;
    crypto::SeededRng rng{7};
    crypto::X25519KeyPair key = crypto::X25519KeyPair::generate(rng);
    ledger::Directory directory;
    prometheus::Registry registry;
    relay::RelayMetrics metrics{registry};
    std::unique_ptr<relay::RelayServer> server;
    tcp::endpoint at;

    Harness() {
        relay::RelayConfig config;
        config.static_key = key.clone();
        config.listen.emplace_back(asio::ip::make_address("127.0.0.1"), 0);
        config.exit_enabled = false;
        // One source sends everything: no penalties or rates that would lock it out.
        config.limits.bad_source_penalty_ms = 0;
        config.limits.handshakes_per_second_per_prefix = 1'000'000;
        config.limits.creates_per_second_per_link = 1'000'000;
        config.limits.creates_burst_per_link = 1'000'000;
        config.limits.creates_per_second_per_prefix = 1'000'000;
        if (config.limits.check()) std::abort();
        server = std::make_unique<relay::RelayServer>(io, std::move(config), directory, rng, metrics);
        auto bound = server->start();
        if (!bound || bound->empty()) std::abort();
        at = bound->front();
    }

    /// Runs ready handlers (socket I/O on loopback completes at once) until idle.
    void settle() {
        io.restart();
        for (int idle = 0, rounds = 0; idle < 3 && rounds < 10'000; ++rounds) idle = io.poll() == 0 ? idle + 1 : 0;
    }
};

Harness& harness() {
    static Harness h;
    return h;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    crypto::initialize();
    harness();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness& h = harness();
    std::shared_ptr<net::Link> link;
    asio::co_spawn(
        h.io,
        [&]() -> net::awaitable<void> {
            auto l = co_await net::Link::connect(h.io.get_executor(), h.at, nullptr, h.key.public_key, h.rng);
            if (l) link = *l;
        },
        asio::detached);
    for (int i = 0; i < 100 && !link; ++i) {
        h.io.restart();
        h.io.run_one_for(std::chrono::milliseconds(100));
    }
    if (!link) std::abort();  // the relay must accept a well-formed link

    std::optional<util::Bytes> created;  // the CREATED body for the hop circuit
    link->start(
        [&](util::ByteView bytes) {
            auto cell = net::parse_cell(bytes);
            if (cell && cell->circuit_id == hop_circuit_id && cell->command == net::CellCommand::created)
                created = util::Bytes(cell->body.begin(), cell->body.end());
        },
        [](const std::string&) {});

    std::optional<crypto::noise::Transport> hop;
    bool hop_failed = false;
    util::ByteView rest(data, size);
    while (rest.size() >= 3 && link->is_open()) {
        const std::uint8_t kind = rest[0];
        const std::size_t len = std::min<std::size_t>((std::size_t(rest[1]) << 8) | rest[2], rest.size() - 3);
        const util::ByteView op = rest.subspan(3, len);
        rest = rest.subspan(3 + len);
        switch (kind % 3) {
            case 0:
                if (op.size() >= net::cell_header_bytes) link->send(util::Bytes(op.begin(), op.end()));
                break;
            case 1: {
                if (!hop && !hop_failed) {
                    auto start = net::start_circuit_handshake(h.key.public_key, h.rng);
                    if (!start) std::abort();
                    link->send(net::encode_cell(hop_circuit_id, net::CellCommand::create, start->message));
                    h.settle();
                    auto t = created ? net::finish_circuit_handshake(std::move(start->state), *created)
                                     : crypto::noise::Result<crypto::noise::Transport>(
                                           util::unexpected(crypto::noise::NoiseError::decrypt_failed));
                    if (t) hop.emplace(std::move(*t));
                    hop_failed = !hop;  // e.g. the input reused the id first
                }
                if (!hop || op.size() < net::relay_header_bytes) break;
                auto sealed = hop->encrypt(op);
                if (!sealed) break;
                link->send(net::encode_cell(hop_circuit_id, net::CellCommand::relay, *sealed));
                break;
            }
            default: h.settle(); break;
        }
    }
    h.settle();
    link->close("fuzz input done");
    link.reset();
    h.settle();
    h.server->refresh_metrics();
    if (h.metrics.links.Value() != 0 || h.metrics.circuits.Value() != 0 || h.metrics.streams.Value() != 0 ||
        h.metrics.queued_bytes.Value() != 0)
        std::abort();  // the relay kept state for a link that is gone
    return 0;
}
