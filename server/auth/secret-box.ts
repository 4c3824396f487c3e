import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors";

/**
 * Secrets we must be able to use again later (a webhook signing secret: we sign with it, so it
 * cannot be hashed like passwords and API keys) are stored sealed with AES-256-GCM under
 * SECRETS_KEY, which never enters the database: a copy of the database alone does not let anyone
 * forge our webhooks (docs/security.md, "Stored secrets").
 *
 * Format: `v1:` + base64(12-byte IV ‖ ciphertext ‖ 16-byte tag). `context` (e.g. the row's id) is
 * authenticated data, so a sealed value copied onto another row does not open there.
 */
const VERSION = "v1:";

function requireKey(key: Uint8Array | undefined): Uint8Array {
  if (!key) throw new AppError("UNAVAILABLE", "Stored secrets need SECRETS_KEY to be set on the server (see the README's configuration)");
  return key;
}

export function seal(key: Uint8Array | undefined, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", requireKey(key), iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
}

/** Opens a sealed value; throws when the key is missing or is not the one it was sealed with. */
export function open(key: Uint8Array | undefined, sealed: string, context: string): string {
  if (!sealed.startsWith(VERSION)) throw new Error("Unknown sealed-secret format");
  const raw = Buffer.from(sealed.slice(VERSION.length), "base64");
  const decipher = createDecipheriv("aes-256-gcm", requireKey(key), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  try {
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    throw new Error("The secret cannot be opened: SECRETS_KEY is not the key it was sealed with");
  }
}

/**
 * The embedded database's key when SECRETS_KEY is not set: created once in `dataDir/secrets.key`
 * (readable by the owner only) and reused, so `bun run demo` needs no setup. With PostgreSQL there
 * is no such fallback: every instance must share one key, so it comes from the environment.
 */
export function embeddedSecretsKey(dataDir: string): Uint8Array {
  const file = join(dataDir, "secrets.key");
  if (existsSync(file)) {
    const bytes = Buffer.from(readFileSync(file, "utf8").trim(), "base64");
    if (bytes.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    return new Uint8Array(bytes);
  }
  mkdirSync(dataDir, { recursive: true });
  const bytes = randomBytes(32);
  writeFileSync(file, bytes.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return new Uint8Array(bytes);
}
