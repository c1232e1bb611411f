// Compiled by test.sh with `tsc --noEmit --strict` against the built
// package's declarations: the typed API as an app sees it. Not run.
import init, {
  CipherSuite,
  IdentityKeyPair,
  InMemoryStore,
  PreKeyBundle,
  SessionManager,
  SframeReceiver,
  isSottoError,
  type Address,
  type DecryptedMessage,
  type ErrorCode,
  type PendingWrites,
  type ProtocolStore,
} from 'sotto';

class AppStore implements ProtocolStore {
  private records = new Map<string, Uint8Array>();
  constructor(private identity: Uint8Array) {}
  private static key(address: Address): string {
    return `${address.device}:${address.account}`;
  }
  localIdentity(): Uint8Array {
    return this.identity;
  }
  peerIdentity(address: Address): Uint8Array | undefined {
    return this.records.get(`peer/${AppStore.key(address)}`);
  }
  savePeerIdentity(address: Address, record: Uint8Array): void {
    this.records.set(`peer/${AppStore.key(address)}`, record);
  }
  signedPrekey(id: number): Uint8Array | null {
    return this.records.get(`spk/${id}`) ?? null;
  }
  saveSignedPrekey(id: number, record: Uint8Array): void {
    this.records.set(`spk/${id}`, record);
  }
  removeSignedPrekey(id: number): void {
    this.records.delete(`spk/${id}`);
  }
  oneTimePrekey(id: number): Uint8Array | undefined {
    return this.records.get(`otk/${id}`);
  }
  saveOneTimePrekey(id: number, record: Uint8Array): void {
    this.records.set(`otk/${id}`, record);
  }
  removeOneTimePrekey(id: number): void {
    this.records.delete(`otk/${id}`);
  }
  loadSession(address: Address): Uint8Array | undefined {
    return this.records.get(`session/${AppStore.key(address)}`);
  }
  storeSession(address: Address, record: Uint8Array): void {
    this.records.set(`session/${AppStore.key(address)}`, record);
  }
  commit(writes: PendingWrites): void {
    this.storeSession(writes.address, writes.session);
  }
}

function describe(code: ErrorCode): string {
  switch (code) {
    case 'DUPLICATE_MESSAGE':
      return 'already have it';
    case 'UNTRUSTED_IDENTITY':
      return 'safety number changed';
    default:
      return code;
  }
}

export async function conversation(): Promise<string> {
  await init();
  const alice: Address = { account: 'alice', device: 1 };
  const bob: Address = { account: 'bob', device: 1 };
  const aliceManager = SessionManager.withStore(alice, new AppStore(IdentityKeyPair.generate().toRecordBytes()));
  const bobManager = SessionManager.withInMemoryStore(bob, new InMemoryStore(IdentityKeyPair.generate()));
  const signed = bobManager.generateSignedPrekey(1);
  const [oneTime] = bobManager.generateOneTimePrekeys(1, 10);
  aliceManager.processBundle(bob, new PreKeyBundle(bobManager.identityKey(), signed, oneTime).toBytes());
  const message: Uint8Array = aliceManager.encrypt(bob, new TextEncoder().encode('hi'));
  try {
    const decrypted: DecryptedMessage = bobManager.decrypt(alice, message);
    const plaintext: Uint8Array = decrypted.plaintext;
    const started: boolean = decrypted.startedSession;
    decrypted.commit();
    const keys = bobManager.callKeys(alice, new TextEncoder().encode('call'));
    const kid: bigint = keys.sendKid;
    const receiver: SframeReceiver = keys.receiver(CipherSuite.Aes128GcmSha256_128);
    receiver.addKey(CipherSuite.ChaCha20Poly1305Sha256_128, kid + 1n, keys.receiveBaseKey());
    const digits: string | undefined = bobManager.safetyNumber(alice)?.grouped();
    return `${new TextDecoder().decode(plaintext)} ${started} ${digits}`;
  } catch (error) {
    if (isSottoError(error)) {
      const counter: number | undefined = error.counter;
      return `${describe(error.code)} ${counter}`;
    }
    throw error;
  }
}
