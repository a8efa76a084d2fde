// Genesis files (ledger::Genesis::from_json): arbitrary bytes give a genesis or
// an error, never a crash; a parsed genesis builds its state or fails cleanly;
// writing it out and reading it back gives the same file, and (when no address
// appears twice in "balances") the same genesis state root.

#include <cstdlib>
#include <set>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using conet::ledger::Genesis;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto g = Genesis::from_json(text);
    if (!g) return 0;
    auto state = g->state();
    if (state) (void)g->header(*state);

    const std::string json = g->to_json();
    auto again = Genesis::from_json(json);
    if (!again || again->to_json() != json) std::abort();
    if (again->chain_id != g->chain_id || again->time_unix != g->time_unix || again->validators != g->validators)
        std::abort();
    // Known gap (reported with issue 7): "balances" may name one address twice
    // (hex case differs) and both are credited, but to_json keeps only one.
    std::set<conet::crypto::Address> seen;
    for (const auto& [a, amount] : g->balances)
        if (!seen.insert(a).second) return 0;
    auto state_again = again->state();
    if (state.has_value() != state_again.has_value()) std::abort();
    if (state && state->state_root() != state_again->state_root()) std::abort();
    return 0;
}
