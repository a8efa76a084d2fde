// Link framing (net::FrameReader, as Link::read_loop uses it): a byte stream
// fed in fuzzer-chosen pieces gives the same records, the same failure and the
// same leftover as a reference split of the whole stream; the reader always has
// room for the next read; records decrypted in place with a Noise transport
// fail cleanly, and sealed records that arrive intact open to what was sealed.
//
// Input (FuzzedDataProvider): the record limit, the buffer slack, up to 16
// piece sizes, a mode bit, then either raw stream bytes or a list of
// plaintexts to seal into records (one of them possibly corrupted).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <vector>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/crypto/random.hpp"
#include "conet/net/frame_reader.hpp"

namespace {

using conet::util::Bytes;
using conet::util::ByteView;
using namespace conet::net;
namespace noise = conet::crypto::noise;

void check(bool ok) {
    if (!ok) std::abort();
}

struct Split {
    std::vector<Bytes> records;
    bool failed = false;
    std::size_t leftover = 0;  ///< bytes after the last record (when not failed)
};

/// The reference: walk the whole stream at once.
Split split_all(ByteView s, std::size_t max_record) {
    Split out;
    std::size_t pos = 0;
    while (s.size() - pos >= frame_header_bytes) {
        const std::size_t len = (std::size_t(s[pos]) << 8) | s[pos + 1];
        if (len > max_record) {
            out.failed = true;
            return out;
        }
        if (s.size() - pos - frame_header_bytes < len) break;
        out.records.emplace_back(s.begin() + pos + frame_header_bytes, s.begin() + pos + frame_header_bytes + len);
        pos += frame_header_bytes + len;
    }
    out.leftover = s.size() - pos;
    return out;
}

noise::Transport transport(std::uint8_t send_key, std::uint8_t recv_key) {
    const Bytes ks(noise::key_bytes, send_key), kr(noise::key_bytes, recv_key);
    return noise::Transport(noise::CipherState(ks), noise::CipherState(kr), {}, std::nullopt);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const std::size_t max_record =
        in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 300) : max_frame_record_bytes;
    const std::size_t buffer_bytes = frame_header_bytes + max_record + in.ConsumeIntegralInRange<std::size_t>(0, 64);
    std::vector<std::size_t> pieces(in.ConsumeIntegralInRange<std::size_t>(0, 16));
    for (auto& p : pieces) p = in.ConsumeIntegralInRange<std::size_t>(0, 512);

    // The stream: raw bytes, or records sealed by the peer's transport.
    const bool sealed = in.ConsumeBool();
    Bytes stream;
    std::vector<Bytes> plaintexts;
    bool corrupted = false;
    if (sealed) {
        auto peer = transport(1, 2);
        for (int i = 0; i < 32 && in.remaining_bytes() > 0; ++i) {
            Bytes plain = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 200));
            Bytes record = plain;
            if (!peer.encrypt_in_place(record, 0)) std::abort();
            stream.push_back(static_cast<std::uint8_t>(record.size() >> 8));
            stream.push_back(static_cast<std::uint8_t>(record.size()));
            stream.insert(stream.end(), record.begin(), record.end());
            plaintexts.push_back(std::move(plain));
        }
        if (!stream.empty() && in.ConsumeBool()) {
            stream[in.ConsumeIntegralInRange<std::size_t>(0, stream.size() - 1)] ^=
                in.ConsumeIntegral<std::uint8_t>() | 1;
            corrupted = true;
        }
    } else {
        stream = in.ConsumeRemainingBytes<std::uint8_t>();
    }
    const Split want = split_all(stream, max_record);

    // Feed in pieces; the last piece takes the rest.
    FrameReader reader(max_record, buffer_bytes);
    auto ours = transport(2, 1);
    bool decrypt_failed = false;
    std::vector<Bytes> got, opened;
    ByteView rest(stream);
    bool failed = false;
    for (std::size_t i = 0; i <= pieces.size() && !failed; ++i) {
        ByteView piece = i < pieces.size() ? rest.first(std::min(pieces[i], rest.size())) : rest;
        rest = rest.subspan(piece.size());
        while (!piece.empty() && !failed) {
            const std::size_t n = reader.feed(piece);
            check(n > 0);  // after draining, there is always room
            piece = piece.subspan(n);
            check(reader.buffered() <= buffer_bytes);
            for (;;) {
                auto next = reader.next();
                if (!next) {
                    failed = true;
                    check(reader.failed());
                    break;
                }
                if (!*next) break;
                const auto record = **next;
                check(record.size() <= max_record);
                got.emplace_back(record.begin(), record.end());
                if (decrypt_failed) continue;
                // As Link::read_loop does: open the record in place in the buffer.
                auto plain_len = ours.decrypt_to(ByteView(record.data(), record.size()), record.data());
                if (!plain_len) {
                    decrypt_failed = true;
                    continue;
                }
                check(*plain_len + noise::tag_bytes == record.size());
                opened.emplace_back(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(*plain_len));
            }
            // Less than one whole record is left.
            if (!failed) check(reader.buffered() < frame_header_bytes + max_record);
        }
    }
    check(failed == want.failed);
    check(got == want.records);
    if (!failed) check(reader.buffered() == want.leftover);
    if (sealed && !corrupted) {
        // Intact sealed records (within the limit) open to what was sealed, in order.
        check(!decrypt_failed);
        check(opened.size() == got.size());
        for (std::size_t i = 0; i < opened.size(); ++i) check(opened[i] == plaintexts[i]);
    }
    return 0;
}
