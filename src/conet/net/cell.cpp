#include "conet/net/cell.hpp"

#include <boost/asio/ip/address.hpp>

#include "conet/codec/codec.hpp"

namespace conet::net {

std::string_view describe(EndReason r) {
    switch (r) {
        case EndReason::done: return "done";
        case EndReason::misc: return "failed";
        case EndReason::resolve_failed: return "name resolution failed";
        case EndReason::connection_refused: return "connection refused";
        case EndReason::exit_policy: return "refused by the exit policy";
        case EndReason::timeout: return "timed out";
        case EndReason::host_unreachable: return "host unreachable";
        case EndReason::destroyed: return "circuit destroyed";
        case EndReason::protocol_error: return "protocol error";
        case EndReason::resource_limit: return "resource limit reached";
        case EndReason::payment_required:
            return "the exit requires payment: run the proxy with --wallet-keystore and a prepaid balance "
                   "(conet tx deposit)";
        case EndReason::balance_exhausted:
            return "the wallet's prepaid balance is used up: deposit more with conet tx deposit";
    }
    return "unknown reason";
}

std::string_view describe(CellError e) {
    switch (e) {
        case CellError::malformed: return "malformed cell";
        case CellError::unknown_command: return "unknown cell command";
        case CellError::too_long: return "cell too long";
        case CellError::bad_target: return "invalid stream target";
    }
    return "unknown cell error";
}

namespace {
constexpr std::uint8_t max_cell_command = static_cast<std::uint8_t>(CellCommand::pong);
constexpr std::uint8_t max_relay_command = static_cast<std::uint8_t>(RelayCommand::receipt);

CellError from_codec(codec::CodecError e) {
    return e == codec::CodecError::too_long ? CellError::too_long : CellError::malformed;
}
}  // namespace

void put_cell_header(std::uint8_t* out, std::uint32_t circuit_id, CellCommand command) {
    codec::store_be(out, circuit_id);
    out[4] = static_cast<std::uint8_t>(command);
}

void put_relay_header(std::uint8_t* out, RelayCommand command, std::uint32_t stream_id) {
    out[0] = static_cast<std::uint8_t>(command);
    codec::store_be(out + 1, stream_id);
}

Bytes encode_cell(std::uint32_t circuit_id, CellCommand command, ByteView body) {
    Bytes out(cell_header_bytes + body.size());
    put_cell_header(out.data(), circuit_id, command);
    std::copy(body.begin(), body.end(), out.begin() + cell_header_bytes);
    return out;
}

CellResult<CellView> parse_cell(ByteView bytes) {
    if (bytes.size() > max_cell_bytes) return util::unexpected(CellError::too_long);
    if (bytes.size() < cell_header_bytes) return util::unexpected(CellError::malformed);
    const std::uint8_t cmd = bytes[4];
    if (cmd == 0 || cmd > max_cell_command) return util::unexpected(CellError::unknown_command);
    const auto id = codec::load_be<std::uint32_t>(bytes.data());
    return CellView{id, static_cast<CellCommand>(cmd), bytes.subspan(cell_header_bytes)};
}

CellResult<Cell> decode_cell(ByteView bytes) {
    auto v = parse_cell(bytes);
    if (!v) return util::unexpected(v.error());
    return Cell{v->circuit_id, v->command, Bytes(v->body.begin(), v->body.end())};
}

Bytes encode_relay(RelayCommand command, std::uint32_t stream_id, ByteView body) {
    Bytes out(relay_header_bytes + body.size());
    put_relay_header(out.data(), command, stream_id);
    std::copy(body.begin(), body.end(), out.begin() + relay_header_bytes);
    return out;
}

CellResult<RelayView> parse_relay(ByteView bytes) {
    if (bytes.size() < relay_header_bytes) return util::unexpected(CellError::malformed);
    if (bytes.size() > relay_header_bytes + max_data_bytes) return util::unexpected(CellError::too_long);
    const std::uint8_t cmd = bytes[0];
    if (cmd == 0 || cmd > max_relay_command) return util::unexpected(CellError::unknown_command);
    const auto id = codec::load_be<std::uint32_t>(bytes.data() + 1);
    return RelayView{static_cast<RelayCommand>(cmd), id, bytes.subspan(relay_header_bytes)};
}

CellResult<RelayMessage> decode_relay(ByteView bytes) {
    auto v = parse_relay(bytes);
    if (!v) return util::unexpected(v.error());
    return RelayMessage{v->command, v->stream_id, Bytes(v->body.begin(), v->body.end())};
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > max_host_bytes) return false;
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (!ec) return true;
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

Bytes encode_target(const Target& t) {
    codec::Writer w;
    w.text(t.host);
    w.u16(t.port);
    return std::move(w).take();
}

CellResult<Target> decode_target(ByteView bytes) {
    codec::Reader r(bytes);
    auto host = r.text(max_host_bytes);
    if (!host) return util::unexpected(from_codec(host.error()));
    auto port = r.u16();
    if (!port || !r.finish()) return util::unexpected(CellError::malformed);
    if (!valid_host(*host) || *port == 0) return util::unexpected(CellError::bad_target);
    return Target{std::move(*host), *port};
}

Bytes encode_extend(const ExtendRequest& e) {
    codec::Writer w;
    w.fixed(e.node_key);
    w.bytes(e.handshake);
    return std::move(w).take();
}

CellResult<ExtendRequest> decode_extend(ByteView bytes) {
    codec::Reader r(bytes);
    auto key = r.fixed<crypto::x25519_key_bytes>();
    if (!key) return util::unexpected(CellError::malformed);
    auto hs = r.bytes(max_handshake_bytes);
    if (!hs) return util::unexpected(from_codec(hs.error()));
    if (!r.finish()) return util::unexpected(CellError::malformed);
    return ExtendRequest{*key, std::move(*hs)};
}

Bytes encode_u32(std::uint32_t v) {
    codec::Writer w;
    w.u32(v);
    return std::move(w).take();
}

CellResult<std::uint32_t> decode_u32(ByteView bytes) {
    codec::Reader r(bytes);
    auto v = r.u32();
    if (!v || !r.finish()) return util::unexpected(CellError::malformed);
    return *v;
}

}  // namespace conet::net
