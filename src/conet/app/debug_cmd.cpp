// `conet debug …`: developer tools.

#include <iostream>

#include "conet/app/cli.hpp"
#include "conet/app/unlock.hpp"
#include "conet/crypto/noise/vectors.hpp"
#include "conet/ledger/evidence.hpp"
#include "conet/ledger/usage.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"
#include "conet/util/limits.hpp"

namespace conet::app {

namespace {
constexpr std::size_t vector_file_max_bytes = 256ull * 1024 * 1024;

int run_noise_vectors(const std::string& path) {
    auto text = util::read_file(path, vector_file_max_bytes);
    if (!text) return fail(text.error().message());
    const crypto::noise::VectorReport report = crypto::noise::run_cacophony_vectors(*text);
    if (!report.fatal.empty()) return fail(path + ": " + report.fatal);
    for (const std::string& f : report.failures) std::cout << "FAIL " << f << "\n";
    std::cout << report.passed << " passed, " << report.failed << " failed, " << report.skipped << " skipped\n";
    return report.failed == 0 ? exit_ok : exit_failure;
}
/// Every budget as a Markdown table (docs/security.md holds the same table; a test compares them).
int print_limits() {
    const util::Limits defaults;
    std::cout << "| `[limits]` option | default | what it protects |\n|---|---:|---|\n";
    for (const auto& f : util::limit_fields())
        std::cout << "| `" << f.name << "` | " << defaults.*f.member << " | " << f.help << " |\n";
    return exit_ok;
}
struct VoteOptions {
    std::string keystore;
    std::optional<std::string> password_file;
    std::uint64_t chain_id = 0, epoch = 0, view = 0, parent_view = 0;
    std::string type = "notarize", parent, digest;
};

/// Signs one consensus vote with a keystore's key and prints its canonical
/// hex (what `conet tx evidence` takes): for testing slashing, never for
/// running a validator (a validator's engine signs its own votes).
int sign_vote(const VoteOptions& o) {
    ledger::SignedVote v;
    if (o.type == "notarize")
        v.type = ledger::VoteType::notarize;
    else if (o.type == "finalize")
        v.type = ledger::VoteType::finalize;
    else if (o.type == "nullify")
        v.type = ledger::VoteType::nullify;
    else
        return fail("--type must be notarize, finalize or nullify", exit_usage);
    v.view = o.view;
    if (v.type != ledger::VoteType::nullify) {
        auto parent = util::from_hex_fixed<32>(o.parent.empty() ? std::string(64, '0') : o.parent);
        auto digest = util::from_hex_fixed<32>(o.digest);
        if (!parent || !digest) return fail("--parent and --digest must be 32-byte hex", exit_usage);
        v.parent_view = o.parent_view;
        v.parent = *parent;
        v.digest = *digest;
    }
    auto key = unlock_keystore(o.keystore, o.password_file);
    if (!key) return fail(key.error());
    v.sign(*key, o.chain_id, o.epoch);
    std::cout << util::to_hex_prefixed(codec::encode(v)) << "\n";
    return exit_ok;
}
struct ReceiptOptions {
    std::string keystore;
    std::optional<std::string> password_file;
    std::uint64_t chain_id = 0, epoch = 0, bytes = 0;
    std::string exit, entry;
};

/// Signs one usage receipt (what a proxy sends its exit) and prints it as
/// `conet tx usage-claim --receipt` takes it: payer,entry,bytes,signature.
int sign_receipt(const ReceiptOptions& o) {
    auto exit = util::from_hex_fixed<32>(o.exit);
    auto entry = util::from_hex_fixed<32>(o.entry);
    if (!exit || !entry) return fail("--exit and --entry must be 32-byte hex Noise keys", exit_usage);
    auto key = unlock_keystore(o.keystore, o.password_file);
    if (!key) return fail(key.error());
    const ledger::ReceiptFields f{o.chain_id, *exit, *entry, o.epoch, o.bytes};
    const crypto::Signature sig = crypto::sign_hash(*key, f.digest());
    std::cout << key->address().to_string() << "," << util::to_hex(*entry) << "," << o.bytes << ","
              << util::to_hex_prefixed(sig.to_bytes(0)) << "\n";
    return exit_ok;
}
}  // namespace

void add_debug_commands(CLI::App& app, int& exit_code) {
    CLI::App* debug = app.add_subcommand("debug", "Developer tools");
    debug->require_subcommand(1);

    auto* vectors =
        debug->add_subcommand("noise-vectors", "Check the Noise engine against a cacophony-format test vector file");
    auto path = std::make_shared<std::string>();
    vectors->add_option("FILE", *path, "cacophony JSON file ({\"vectors\": [...]})")->required();
    vectors->final_callback([&exit_code, path] { exit_code = run_noise_vectors(*path); });

    auto* limits =
        debug->add_subcommand("limits", "Print every budget (node.toml [limits]) with its default, as Markdown");
    limits->final_callback([&exit_code] { exit_code = print_limits(); });

    auto vote = std::make_shared<VoteOptions>();
    auto* sv = debug->add_subcommand("sign-vote",
                                     "Sign one consensus vote with a keystore and print its hex (to test double-sign "
                                     "evidence: `conet tx evidence`)");
    sv->add_option("--keystore", vote->keystore, "Keystore of the signing key")->required();
    sv->add_option("--password-file", vote->password_file, "File whose first line is the password");
    sv->add_option("--chain-id", vote->chain_id, "Chain id")->required();
    sv->add_option("--epoch", vote->epoch, "Epoch")->capture_default_str();
    sv->add_option("--type", vote->type, "notarize, finalize or nullify")->capture_default_str();
    sv->add_option("--view", vote->view, "View")->required();
    sv->add_option("--parent-view", vote->parent_view, "Parent view (not for nullify)")->capture_default_str();
    sv->add_option("--parent", vote->parent, "Parent digest, 32-byte hex (default zero; not for nullify)");
    sv->add_option("--digest", vote->digest, "The proposal's digest, 32-byte hex (not for nullify)");
    sv->final_callback([&exit_code, vote] { exit_code = sign_vote(*vote); });

    auto receipt = std::make_shared<ReceiptOptions>();
    auto* sr = debug->add_subcommand("sign-receipt",
                                     "Sign one paid-usage receipt with a keystore and print it as `conet tx "
                                     "usage-claim --receipt` takes it");
    sr->add_option("--keystore", receipt->keystore, "Keystore of the paying wallet")->required();
    sr->add_option("--password-file", receipt->password_file, "File whose first line is the password");
    sr->add_option("--chain-id", receipt->chain_id, "Chain id")->required();
    sr->add_option("--exit", receipt->exit, "The exit's Noise key (hex)")->required();
    sr->add_option("--entry", receipt->entry, "The entry's Noise key (hex)")->required();
    sr->add_option("--epoch", receipt->epoch, "Epoch")->required();
    sr->add_option("--bytes", receipt->bytes, "Bytes carried so far (cumulative)")->required();
    sr->final_callback([&exit_code, receipt] { exit_code = sign_receipt(*receipt); });
}

}  // namespace conet::app
