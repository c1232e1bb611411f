// Compiled by test.sh with `tsc --noEmit --strict` against the built
// package's declarations: the typed API as an app sees it. Not run.
import init, {
  CipherSuite,
  IdentityKeyPair,
  InMemoryStore,
  PreKeyBundle,
  SessionManager,
  SframeReceiver,
  checkStoreConformance,
  isPostQuantum,
  isSottoError,
  sessionRecordGeneration,
  type AcceptedCall,
  type Address,
  type CallOffer,
  type ClassicalSessions,
  type DecryptBatch,
  type DecryptedMessage,
  type ErrorCode,
  type Handshake,
  type KemPreKeyPublic,
  type LastResortUse,
  type OfferedCall,
  type OneToOneCall,
  type OneToOneCallKeys,
  type OutgoingCall,
  type ProtocolStore,
  type StoreConflict,
  type StoreWrite,
} from 'sotto';

class AppStore implements ProtocolStore {
  private records = new Map<string, Uint8Array>();
  private generations = new Map<string, bigint>();
  private uses = new Map<string, number>();
  constructor(private identity: Uint8Array) {}
  private static key(address: Address): string {
    return `${address.device}:${address.account}`;
  }
  private static useKey(use: LastResortUse): string {
    return `${use.kemPrekey}:${Array.from(use.baseKey).join(',')}`;
  }
  localIdentity(): Uint8Array {
    return this.identity;
  }
  peerIdentity(address: Address): Uint8Array | undefined {
    return this.records.get(`peer/${AppStore.key(address)}`);
  }
  signedPrekey(id: number): Uint8Array | null {
    return this.records.get(`spk/${id}`) ?? null;
  }
  saveSignedPrekey(id: number, record: Uint8Array): Promise<void> {
    this.records.set(`spk/${id}`, record);
    return Promise.resolve();
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
  kemPrekey(id: number): Uint8Array | null {
    return this.records.get(`kem/${id}`) ?? null;
  }
  saveKemPrekey(id: number, record: Uint8Array): Promise<void> {
    this.records.set(`kem/${id}`, record);
    return Promise.resolve();
  }
  removeKemPrekey(id: number): void {
    this.records.delete(`kem/${id}`);
    for (const [key, prekey] of this.uses) if (prekey === id) this.uses.delete(key);
  }
  lastResortUseRecorded(id: number, baseKey: Uint8Array): boolean {
    return this.uses.has(AppStore.useKey({ kemPrekey: id, baseKey }));
  }
  loadSession(address: Address): Uint8Array | undefined {
    return this.records.get(`session/${AppStore.key(address)}`);
  }
  commit(writes: StoreWrite[]): Promise<void> {
    for (const write of writes) {
      const stored: bigint | null = this.generations.get(AppStore.key(write.address)) ?? null;
      const kemOk = write.consumedKemPrekeys.every((id: number) => this.records.has(`kem/${id}`));
      const usesOk = write.lastResortUses.every(
        (use: LastResortUse) => this.records.has(`kem/${use.kemPrekey}`) && !this.uses.has(AppStore.useKey(use)),
      );
      if (stored !== write.expectedGeneration || !kemOk || !usesOk) {
        const conflict: StoreConflict = { code: 'CONFLICT', address: write.address };
        throw conflict;
      }
    }
    for (const write of writes) {
      const key = AppStore.key(write.address);
      if (write.peerIdentity !== null && !(write.peerIdentityFirstUse && this.records.has(`peer/${key}`))) {
        this.records.set(`peer/${key}`, write.peerIdentity);
      }
      this.records.set(`session/${key}`, write.session);
      this.generations.set(key, write.generation);
      write.consumedOneTimePrekeys.forEach((id: number) => this.removeOneTimePrekey(id));
      write.consumedKemPrekeys.forEach((id: number) => this.records.delete(`kem/${id}`));
      write.lastResortUses.forEach((use: LastResortUse) => this.uses.set(AppStore.useKey(use), use.kemPrekey));
    }
    return Promise.resolve();
  }
}

function describe(code: ErrorCode): string {
  switch (code) {
    case 'DUPLICATE_MESSAGE':
      return 'already have it';
    case 'UNTRUSTED_IDENTITY':
      return 'safety number changed';
    case 'CONFLICT':
    case 'CONTENDED':
      return 'try again';
    case 'CLASSICAL_SESSION_REFUSED':
      return 'not post-quantum';
    case 'BAD_KEM_SIGNATURE':
      return 'the server tampered with the bundle';
    default:
      return code;
  }
}

export async function conversation(): Promise<string> {
  await init();
  const alice: Address = { account: 'alice', device: 1 };
  const bob: Address = { account: 'bob', device: 1 };
  await checkStoreConformance(new AppStore(IdentityKeyPair.generate().toRecordBytes()));
  const aliceManager = SessionManager.withStore(alice, new AppStore(IdentityKeyPair.generate().toRecordBytes()));
  const bobManager = SessionManager.withInMemoryStore(bob, new InMemoryStore(IdentityKeyPair.generate()));
  const signed = await bobManager.generateSignedPrekey(1);
  const [oneTime] = await bobManager.generateOneTimePrekeys(1, 10);
  const [kem]: KemPreKeyPublic[] = await bobManager.generateKemPrekeys(1, 10);
  const lastResort: KemPreKeyPublic = await bobManager.generateLastResortKemPrekey(100);
  const bundle = new PreKeyBundle(bobManager.identityKey(), signed, kem, oneTime);
  const postQuantum: boolean = bundle.hasKemPrekey() && PreKeyBundle.fromBytes(bundle.toBytes()).hasKemPrekey();
  new PreKeyBundle(bobManager.identityKey(), signed, lastResort);
  PreKeyBundle.classical(bobManager.identityKey(), signed, null);
  const policy: ClassicalSessions = aliceManager.classicalSessions;
  const allowing: SessionManager = aliceManager.withClassicalSessions(policy === 'REFUSE' ? 'ALLOW' : 'REFUSE');
  allowing.free();
  new InMemoryStore(IdentityKeyPair.generate()).removeKemPrekey(lastResort.id);
  await aliceManager.processBundle(bob, bundle.toBytes());
  const handshake: Handshake | undefined = aliceManager.sessionHandshake(bob);
  const secure: boolean = isPostQuantum(handshake) && handshake === 'PQXDH' && postQuantum;
  const message: Uint8Array = await aliceManager.encrypt(bob, new TextEncoder().encode('hi'));
  try {
    const decrypted: DecryptedMessage = bobManager.decrypt(alice, message);
    const plaintext: Uint8Array = decrypted.plaintext;
    const started: boolean = decrypted.startedSession;
    await decrypted.commit();

    const batch: DecryptBatch = bobManager.batch();
    const queued: Uint8Array = batch.decrypt(alice, await aliceManager.encrypt(bob, new Uint8Array(1)));
    const count: number = batch.length;
    await batch.commit();

    const offered: OfferedCall = aliceManager.offerCall(bob, new TextEncoder().encode('call'), CipherSuite.Aes128GcmSha256_128);
    const calling: OutgoingCall = offered.call;
    const ringing: CallOffer = bobManager.parseCallOffer(alice, offered.offer);
    const suite: CipherSuite = ringing.suite;
    const accepted: AcceptedCall = bobManager.acceptCall(alice, ringing);
    const onAlice: OneToOneCall = calling.receiveAnswer(accepted.answer);
    const frame: Uint8Array = onAlice.encrypt(new Uint8Array(0), new Uint8Array(10));
    accepted.call.decrypt(new Uint8Array(0), frame);
    const keys: OneToOneCallKeys = accepted.call.intoKeys();
    const kid: bigint = keys.receiveKid;
    const receiver = new SframeReceiver();
    receiver.addKey(suite, kid, keys.receiveBaseKey);
    const generation: bigint = sessionRecordGeneration(new Uint8Array(0));
    const digits: string | undefined = bobManager.safetyNumber(alice)?.grouped();
    return `${new TextDecoder().decode(plaintext)} ${started} ${digits} ${queued.length} ${count} ${generation} ${secure}`;
  } catch (error) {
    if (isSottoError(error)) {
      const counter: number | undefined = error.counter;
      const attempts: number | undefined = error.attempts;
      return `${describe(error.code)} ${counter} ${attempts} ${error.check}`;
    }
    throw error;
  }
}
