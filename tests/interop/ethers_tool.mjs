// The independent side of the wallet interop tests: ethers v6 (npm).
// Usage:
//   node ethers_tool.mjs decrypt KEYSTORE_FILE PASSWORD_FILE      -> {"address","privateKey"}
//   node ethers_tool.mjs encrypt PRIVKEY_HEX PASSWORD_FILE SCRYPT_N -> keystore JSON
//   node ethers_tool.mjs sign PRIVKEY_HEX MESSAGE_HEX              -> {"address","signature"}
//   node ethers_tool.mjs verify MESSAGE_HEX SIGNATURE              -> {"address"}
import { readFileSync } from "node:fs";
import { Wallet, decryptKeystoreJsonSync, encryptKeystoreJsonSync, getBytes, verifyMessage } from "ethers";

const [cmd, ...args] = process.argv.slice(2);
const password = (file) => readFileSync(file, "utf8").split("\n")[0];
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");

switch (cmd) {
  case "decrypt": {
    const account = decryptKeystoreJsonSync(readFileSync(args[0], "utf8"), password(args[1]));
    out({ address: account.address, privateKey: account.privateKey });
    break;
  }
  case "encrypt": {
    const wallet = new Wallet(args[0]);
    const json = encryptKeystoreJsonSync(
      { address: wallet.address, privateKey: wallet.privateKey },
      password(args[1]),
      { scrypt: { N: Number(args[2]) } },
    );
    process.stdout.write(json + "\n");
    break;
  }
  case "sign": {
    const wallet = new Wallet(args[0]);
    out({ address: wallet.address, signature: wallet.signMessageSync(getBytes(args[1])) });
    break;
  }
  case "verify":
    out({ address: verifyMessage(getBytes(args[0]), args[1]) });
    break;
  default:
    process.stderr.write(`unknown command ${cmd}\n`);
    process.exit(2);
}
