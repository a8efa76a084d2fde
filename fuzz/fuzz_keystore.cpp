// Keystore v3 JSON: parsing arbitrary documents must never crash; documents
// with cheap KDF parameters are also decrypted (the MAC check and key
// validation run). Expensive parameters are skipped to keep iterations fast.

#include <variant>

#include "conet/crypto/keystore.hpp"
#include "conet/crypto/random.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::crypto;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto ks = parse_keystore(text);
    if (!ks) return 0;
    bool cheap = false;
    if (const auto* s = std::get_if<ScryptParams>(&ks->kdf)) cheap = s->n * s->r * s->p <= 1024 * 8;
    if (const auto* p = std::get_if<Pbkdf2Params>(&ks->kdf)) cheap = p->c <= 1000;
    if (cheap) (void)decrypt_keystore(*ks, "password");
    return 0;
}
