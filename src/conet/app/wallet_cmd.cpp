// `conet wallet …`: key management with Ethereum keystore v3 files.

#include <iostream>
#include <memory>
#include <optional>

#include "conet/app/cli.hpp"
#include "conet/app/password.hpp"
#include "conet/app/progress.hpp"
#include "conet/app/unlock.hpp"
#include "conet/crypto/eip191.hpp"
#include "conet/crypto/keystore.hpp"
#include "conet/crypto/random.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::app {

namespace {

namespace json = boost::json;
using crypto::PrivateKey;

constexpr unsigned secret_file_mode = 0600;
constexpr std::size_t key_file_max_bytes = 4096;

struct WalletOptions {
    std::string keystore;
    std::optional<std::string> password_file;
    std::optional<std::string> private_key_file;
    std::optional<std::string> message;
    std::optional<std::string> message_hex;
    std::optional<std::string> signature;
    std::optional<std::string> address;
    bool light = false;
    bool json = false;
};

util::Result<PrivateKey, std::string> unlock(const WalletOptions& o) {
    return unlock_keystore(o.keystore, o.password_file);
}

int save(const WalletOptions& o, const PrivateKey& key) {
    auto password = obtain_password(o.password_file, "New keystore password: ", Confirm::yes);
    if (!password) return fail(password.error());
    crypto::SystemRng rng;
    const auto params = o.light ? crypto::ScryptParams::light() : crypto::ScryptParams::standard();
    auto doc = with_progress("encrypting the keystore (scrypt)",
                             [&] { return crypto::encrypt_keystore(key, *password, params, rng); });
    if (!doc) return fail(describe(doc.error()));
    auto written = util::write_file_atomic(o.keystore, util::as_bytes(*doc), secret_file_mode, util::Overwrite::no);
    if (!written) return fail(written.error().message());
    const std::string address = key.address().to_string();
    if (o.json)
        print_json(json::object{{"address", address}, {"keystore", o.keystore}});
    else
        std::cout << address << "\n";
    return exit_ok;
}

int cmd_new(const WalletOptions& o) {
    crypto::SystemRng rng;
    return save(o, PrivateKey::generate(rng));
}

int cmd_import(const WalletOptions& o) {
    auto text = util::read_file(*o.private_key_file, key_file_max_bytes);
    if (!text) return fail("cannot read private key file: " + text.error().message());
    std::string_view hex = *text;
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front()))) hex.remove_prefix(1);
    auto raw = util::from_hex_fixed<32>(hex);
    if (!raw) return fail("private key file must hold 32 bytes as hex (64 digits, optional 0x)", exit_usage);
    auto key = PrivateKey::from_bytes(*raw);
    crypto::detail::wipe(raw->data(), raw->size());
    crypto::detail::wipe(text->data(), text->size());
    if (!key) return fail(describe(key.error()), exit_usage);
    return save(o, *key);
}

int cmd_show(const WalletOptions& o) {
    auto key = unlock(o);
    if (!key) return fail(key.error());
    const std::string address = key->address().to_string();
    if (o.json)
        print_json(json::object{{"address", address}});
    else
        std::cout << address << "\n";
    return exit_ok;
}

int cmd_export(const WalletOptions& o) {
    auto key = unlock(o);
    if (!key) return fail(key.error());
    std::string hex = util::to_hex_prefixed(key->secret().view()) + "\n";
    auto written =
        util::write_file_atomic(*o.private_key_file, util::as_bytes(hex), secret_file_mode, util::Overwrite::no);
    crypto::detail::wipe(hex.data(), hex.size());
    if (!written) return fail(written.error().message());
    const std::string address = key->address().to_string();
    if (o.json)
        print_json(json::object{{"address", address}, {"private_key_file", *o.private_key_file}});
    else
        std::cout << address << "\n";
    return exit_ok;
}

util::Result<util::Bytes, std::string> message_bytes(const WalletOptions& o) {
    if (o.message) return util::to_bytes(*o.message);
    if (!o.message_hex) return util::unexpected(std::string("give the message with --message or --message-hex"));
    auto b = util::from_hex(*o.message_hex);
    if (!b) return util::unexpected("--message-hex: " + std::string(describe(b.error())));
    return std::move(*b);
}

int cmd_sign(const WalletOptions& o) {
    auto msg = message_bytes(o);
    if (!msg) return fail(msg.error(), exit_usage);
    auto key = unlock(o);
    if (!key) return fail(key.error());
    const std::string address = key->address().to_string();
    const std::string signature = util::to_hex_prefixed(crypto::personal_sign(*key, *msg));
    if (o.json)
        print_json(json::object{{"address", address}, {"signature", signature}});
    else
        std::cout << "address:   " << address << "\nsignature: " << signature << "\n";
    return exit_ok;
}

int cmd_verify(const WalletOptions& o) {
    auto msg = message_bytes(o);
    if (!msg) return fail(msg.error(), exit_usage);
    std::optional<crypto::Address> expected;
    if (o.address) {
        auto a = crypto::Address::parse(*o.address);
        if (!a) return fail("--address: " + std::string(describe(a.error())), exit_usage);
        expected = *a;
    }
    auto sig = util::from_hex(*o.signature);
    if (!sig) return fail("--signature: " + std::string(describe(sig.error())), exit_usage);
    auto recovered = crypto::personal_recover(*msg, *sig);
    const bool valid = recovered && (!expected || *recovered == *expected);
    if (o.json) {
        json::object out;
        out["address"] = recovered ? json::value(recovered->to_string()) : json::value(nullptr);
        out["valid"] = valid;
        if (!recovered) out["error"] = describe(recovered.error());
        print_json(out);
    } else if (recovered) {
        std::cout << "address: " << recovered->to_string() << "\nvalid:   " << (valid ? "true" : "false") << "\n";
    } else {
        std::cout << "valid:   false (" << describe(recovered.error()) << ")\n";
    }
    return valid ? exit_ok : exit_failure;
}

void add_keystore_option(CLI::App* cmd, WalletOptions& o) {
    cmd->add_option("--keystore", o.keystore, "Keystore v3 JSON file")->required();
}

void add_password_option(CLI::App* cmd, WalletOptions& o) {
    cmd->add_option("--password-file", o.password_file,
                    "File whose first line is the password (default: prompt on the terminal)");
}

void add_message_options(CLI::App* cmd, WalletOptions& o) {
    auto* text = cmd->add_option("--message", o.message, "Message as UTF-8 text");
    auto* hex = cmd->add_option("--message-hex", o.message_hex, "Message as hex bytes");
    text->excludes(hex);
    hex->excludes(text);
}

}  // namespace

void add_wallet_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<WalletOptions>();
    WalletOptions& o = *opts;
    CLI::App* wallet = app.add_subcommand("wallet", "Manage wallet keys (Ethereum keystore v3)");
    wallet->require_subcommand(1);

    auto bind = [&exit_code, opts](CLI::App* cmd, int (*run)(const WalletOptions&)) {
        cmd->final_callback([&exit_code, opts, run] { exit_code = run(*opts); });
    };

    auto* cmd = wallet->add_subcommand("new", "Create a new key and write it to an encrypted keystore");
    add_keystore_option(cmd, o);
    add_password_option(cmd, o);
    cmd->add_flag("--light", o.light, "Fast scrypt parameters (N=4096) for tests and throwaway keys");
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_new);

    cmd = wallet->add_subcommand("import", "Encrypt an existing hex private key into a keystore");
    cmd->add_option("--private-key-file", o.private_key_file, "File holding the private key as hex")->required();
    add_keystore_option(cmd, o);
    add_password_option(cmd, o);
    cmd->add_flag("--light", o.light, "Fast scrypt parameters (N=4096) for tests and throwaway keys");
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_import);

    cmd = wallet->add_subcommand("show", "Decrypt a keystore and print its address");
    add_keystore_option(cmd, o);
    add_password_option(cmd, o);
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_show);

    cmd = wallet->add_subcommand("export", "Decrypt a keystore and write the raw private key (hex) to a new file");
    add_keystore_option(cmd, o);
    add_password_option(cmd, o);
    cmd->add_option("--private-key-file", o.private_key_file, "Output file (created with mode 0600)")->required();
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_export);

    cmd = wallet->add_subcommand("sign", "Sign a message with EIP-191 personal_sign");
    add_keystore_option(cmd, o);
    add_password_option(cmd, o);
    add_message_options(cmd, o);
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_sign);

    cmd = wallet->add_subcommand("verify", "Recover the signer of an EIP-191 signature");
    add_message_options(cmd, o);
    cmd->add_option("--signature", o.signature, "65-byte signature as hex")->required();
    cmd->add_option("--address", o.address, "Expected signer; exit non-zero if it differs");
    cmd->add_flag("--json", o.json, "Print JSON");
    bind(cmd, cmd_verify);
}

}  // namespace conet::app
