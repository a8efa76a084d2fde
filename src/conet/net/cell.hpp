#pragma once
/// Cells: what links carry (docs/protocol.md). I/O-free encode/decode with
/// explicit limits; every decoder rejects trailing bytes.
///
///   link cell     = u32 circuit_id | u8 command | body
///   relay message = u8 command | u32 stream_id | body       (innermost onion layer)

#include <cstdint>
#include <string>
#include <string_view>

#include "conet/codec/codec.hpp"
#include "conet/crypto/noise/handshake.hpp"

namespace conet::net {

using util::Bytes;
using util::ByteView;

/// The biggest plaintext a link record carries (Noise message minus its tag).
inline constexpr std::size_t max_cell_bytes = crypto::noise::max_payload_bytes;
inline constexpr std::size_t cell_header_bytes = 5;
/// Each onion layer adds a Noise tag, plus a one-byte origin marker going back.
inline constexpr std::size_t onion_layer_overhead_bytes = crypto::noise::tag_bytes + 1;
inline constexpr std::size_t max_hops = 3;
inline constexpr std::size_t relay_header_bytes = 5;
/// DATA payload per relay message: leaves room for every layer of a 3-hop circuit.
inline constexpr std::size_t max_data_bytes = 64 * 1024 - 256;
static_assert(cell_header_bytes + max_hops * onion_layer_overhead_bytes + relay_header_bytes + max_data_bytes <=
              max_cell_bytes);
inline constexpr std::size_t max_handshake_bytes = 256;
inline constexpr std::size_t max_host_bytes = 255;

enum class CellCommand : std::uint8_t {
    create = 1,    ///< body: Noise NK message 1 for this hop, or empty (first hop: the link is the layer)
    created = 2,   ///< body: Noise NK message 2, or empty
    relay = 3,     ///< body: onion-sealed relay message
    destroy = 4,   ///< body: u8 reason
    extend = 5,    ///< first hop only: body = extend request (see ExtendRequest)
    extended = 6,  ///< body: Noise NK message 2 from the new hop
    ping = 7,      ///< keepalive; body: opaque, echoed
    pong = 8,
};

enum class RelayCommand : std::uint8_t {
    begin = 1,      ///< body: Target
    connected = 2,  ///< empty body
    data = 3,       ///< body: 1..max_data_bytes of stream data
    end = 4,        ///< half-close: the sender will send no more data; empty body
    reset = 5,      ///< abort the stream; body: u8 reason
    sendme = 6,     ///< body: u32 bytes of credit; stream_id 0 = the circuit
    extend = 7,     ///< body: ExtendRequest (to the last hop, which becomes a middle)
    extended = 8,   ///< body: Noise NK message 2
    receipt = 9,    ///< to the exit only: body = ledger::ReceiptMessage (the user's wallet pays for the circuit)
};

/// Why a stream or circuit ended; carried in RESET and DESTROY.
enum class EndReason : std::uint8_t {
    done = 0,
    misc = 1,
    resolve_failed = 2,
    connection_refused = 3,
    exit_policy = 4,
    timeout = 5,
    host_unreachable = 6,
    destroyed = 7,
    protocol_error = 8,
    resource_limit = 9,
    payment_required = 10,   ///< the exit needs receipts from a wallet (or its credit for them ran out)
    balance_exhausted = 11,  ///< the wallet's prepaid balance does not cover what it used
};
std::string_view describe(EndReason r);

enum class CellError { malformed, unknown_command, too_long, bad_target };
std::string_view describe(CellError e);

template <class T>
using CellResult = util::Result<T, CellError>;

struct Cell {
    std::uint32_t circuit_id = 0;
    CellCommand command = CellCommand::ping;
    Bytes body;
};
/// A cell parsed in place: `body` points into the parsed bytes.
struct CellView {
    std::uint32_t circuit_id = 0;
    CellCommand command = CellCommand::ping;
    ByteView body;
};
Bytes encode_cell(std::uint32_t circuit_id, CellCommand command, ByteView body);
[[nodiscard]] CellResult<CellView> parse_cell(ByteView bytes);
[[nodiscard]] CellResult<Cell> decode_cell(ByteView bytes);
/// Writes the cell header into out[0..cell_header_bytes).
void put_cell_header(std::uint8_t* out, std::uint32_t circuit_id, CellCommand command);

struct RelayMessage {
    RelayCommand command = RelayCommand::data;
    std::uint32_t stream_id = 0;
    Bytes body;
};
struct RelayView {
    RelayCommand command = RelayCommand::data;
    std::uint32_t stream_id = 0;
    ByteView body;
};
Bytes encode_relay(RelayCommand command, std::uint32_t stream_id, ByteView body);
[[nodiscard]] CellResult<RelayView> parse_relay(ByteView bytes);
[[nodiscard]] CellResult<RelayMessage> decode_relay(ByteView bytes);
/// Writes the relay header into out[0..relay_header_bytes).
void put_relay_header(std::uint8_t* out, RelayCommand command, std::uint32_t stream_id);

/// Where a stream goes: a DNS name or an IP literal (the exit resolves names).
struct Target {
    std::string host;
    std::uint16_t port = 0;
};
Bytes encode_target(const Target& t);
[[nodiscard]] CellResult<Target> decode_target(ByteView bytes);
/// Host names: 1..255 bytes of [A-Za-z0-9.-_], or an IPv4/IPv6 literal.
bool valid_host(std::string_view host);

/// Ask the last hop to extend the circuit to the relay with this Noise key.
/// The relay looks the key up in its directory and uses the endpoint it
/// knows; it never connects to an address the client supplies.
struct ExtendRequest {
    crypto::X25519Public node_key{};
    Bytes handshake;  ///< Noise NK message 1 for the new hop
};
Bytes encode_extend(const ExtendRequest& e);
[[nodiscard]] CellResult<ExtendRequest> decode_extend(ByteView bytes);

Bytes encode_u32(std::uint32_t v);
[[nodiscard]] CellResult<std::uint32_t> decode_u32(ByteView bytes);

}  // namespace conet::net
