//! [`KmsCore`]: the embedded key service over a SQLite key store, and the
//! store helpers its operations stand on (transactions, key lookup, key
//! material, new keys, rotation, lazy maintenance).
//!
//! The file layout reads in one direction: `service.rs` is the service face
//! (the [`Kms`](super::Kms) trait), which calls the operations in `ops.rs`
//! (cryptographic) and `admin.rs` (key management), which call the helpers
//! here, which call `store.rs` (SQL), `rootkey.rs` and `rsa.rs`.
//!
//! Concurrency: one SQLite connection per `KmsCore`, behind a mutex, in WAL
//! mode with a busy timeout. Reads run in a deferred transaction and every
//! write in `BEGIN IMMEDIATE`, so several processes (each with its own
//! `KmsCore`) can share a store; a failed operation rolls its transaction
//! back and leaves the store unchanged. Cryptography on request data runs
//! after the transaction, outside the lock.
//!
//! Time-driven changes (deletion of keys whose waiting period is over,
//! automatic rotation) are applied lazily: on open and before each operation.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::config::{Identity, KmsConfig};
use super::creation::{self, Found};
use super::error::{KmsError, KmsErrorKind};
use super::ids::{parse_key_ref, KeyRef};
use super::recent::{self, Reader, Recent};
use super::rootkey::{self, Binding, RootKey};
use super::specs::*;
use super::store::{self, db, KeyRow};
use super::types::*;
use super::{files, identity, migrate, rsa, shred};
use crate::crypto::{random_secret, Secret};

/// File name of the SQLite database in the key-store directory.
pub const DB_FILE: &str = "kms.db";
/// Length of symmetric backing keys.
const BACKING_LEN: usize = 32;
/// How long a request waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DAY: u64 = 86_400;

/// The embedded KMS: AWS KMS semantics over a local key store.
///
/// `Send + Sync`; share it as `Arc<dyn Kms>`.
pub struct KmsCore {
    pub(crate) config: KmsConfig,
    /// The store's region and account, as stored (not as configured).
    pub(crate) identity: Identity,
    conn: Mutex<Connection>,
    /// Locked only while `conn` is.
    recent: Mutex<Recent>,
    pub(crate) root: RootKey,
    created: bool,
}

impl std::fmt::Debug for KmsCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsCore")
            .field("config", &self.config)
            .field("identity", &self.identity)
            .field("created", &self.created)
            .finish()
    }
}

fn poisoned() -> KmsError {
    KmsError::internal("the key store handle was poisoned by a panic")
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> KmsError {
    KmsError::internal(format!("cannot {what} {}: {e}", path.display()))
}

/// Switches the database to WAL, waiting out other processes doing the same.
fn enable_wal(conn: &Connection) -> Result<(), KmsError> {
    let mut tries = 0;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) && tries < 300 =>
            {
                tries += 1;
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(db(e)),
        }
    }
}

impl KmsCore {
    /// Opens the key store of `config`, creating it on first use: the
    /// directory (0700), the database (0600) and the root key, published
    /// whole (module `creation`), so a concurrent process never sees half a
    /// store. The store's region and account are fixed then
    /// ([`KmsCore::identity`]).
    ///
    /// AccessDeniedException if the root key file or passphrase does not
    /// match the store, if the store is half there (`root.key` without
    /// `kms.db`, or a key-file store without `root.key`: never replaced), or
    /// if the store's directory or files give group or others access (unless
    /// `config.allow_insecure_permissions`); ValidationException if `config`
    /// asks for another region or account than the store has;
    /// KMSInternalException if the store cannot be read.
    pub fn open(config: KmsConfig) -> Result<KmsCore, KmsError> {
        Self::open_with(config, true)
    }

    /// Opens an existing key store, as [`KmsCore::open`] does, but never
    /// creates one: NotFoundException (`no key store at DIR`) when there is
    /// none, for operations that only read keys, which a new store could not
    /// have anyway.
    pub fn open_existing(config: KmsConfig) -> Result<KmsCore, KmsError> {
        Self::open_with(config, false)
    }

    fn open_with(config: KmsConfig, may_create: bool) -> Result<KmsCore, KmsError> {
        config.validate()?;
        let dir = config.keystore.clone();
        let root = match creation::look(&dir)? {
            Found::Complete => None,
            Found::KeyFileOnly => return Err(creation::key_file_only(&dir)),
            Found::Missing if !may_create => {
                return Err(KmsError::not_found(format!("no key store at {}", dir.display())))
            }
            Found::Missing => match creation::create(&config)? {
                Some(root) => Some(root),
                // Another process published its store first: that one is used.
                None if creation::look(&dir)? == Found::Complete => None,
                None => return Err(creation::key_file_only(&dir)),
            },
        };
        Self::open_complete(config, root)
    }

    /// Opens a complete store; `root` is the root key when this process has
    /// just created it (`None`: unlock it).
    fn open_complete(config: KmsConfig, root: Option<RootKey>) -> Result<KmsCore, KmsError> {
        let dir = config.keystore.clone();
        let allow = config.allow_insecure_permissions;
        let db_path = dir.join(DB_FILE);
        files::check_private(&dir, allow)?;
        for name in [
            DB_FILE.to_owned(),
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            rootkey::KEY_FILE.to_owned(),
        ] {
            files::check_private(&dir.join(name), allow)?;
        }
        // Without SQLITE_OPEN_CREATE: a database deleted since it was found
        // is reported, not silently made again, empty.
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&db_path, flags).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        enable_wal(&conn)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
        shred::secure_delete(&conn)?;
        let created = root.is_some();
        let root = match root {
            Some(r) => r,
            None => rootkey::unlock(&mut conn, &dir, config.passphrase.as_deref().map(|p| &p[..]))?,
        };
        migrate::migrate(&mut conn, &root)?;
        let identity = identity::resolve(&mut conn, &config)?;
        for suffix in ["-wal", "-shm"] {
            let p = dir.join(format!("{DB_FILE}{suffix}"));
            files::restrict_file(&p).map_err(|e| io_err("restrict", &p, e))?;
        }
        let core = KmsCore {
            config,
            identity,
            conn: Mutex::new(conn),
            recent: Mutex::new(Recent::default()),
            root,
            created,
        };
        core.maintain(&mut *core.lock()?)?;
        Ok(core)
    }

    /// Whether this `open` created the key store (for a first-run note).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The key-store directory.
    pub fn keystore(&self) -> &Path {
        &self.config.keystore
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    /// The partition, region and account the store's ARNs name: fixed when
    /// the store was created, whatever the configuration asked for.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub(crate) fn now(&self) -> u64 {
        self.config.clock.now()
    }

    pub(crate) fn arn(&self, key_id: &str) -> String {
        self.identity.key_arn(key_id)
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Connection>, KmsError> {
        self.conn.lock().map_err(|_| poisoned())
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`); rolled back if `f` fails.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, KmsError>) -> Result<T, KmsError> {
        let mut conn = self.lock()?;
        self.maintain(&mut conn)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        self.root.check_current(&tx, self.keystore())?;
        let out = f(&tx)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Empties the WAL after secret material was deleted (see [`shred`]).
    pub(crate) fn shred(&self) -> Result<(), KmsError> {
        shred::checkpoint(&*self.lock()?)
    }

    /// Runs `f` in a read transaction, for a consistent view across
    /// statements, with what earlier reads learned while the store is
    /// unchanged (see [`recent`]).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Reader<'_>) -> Result<T, KmsError>) -> Result<T, KmsError> {
        let mut conn = self.lock()?;
        let mut recent = self.recent.lock().map_err(|_| poisoned())?;
        let now = self.now();
        let mut tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db)?;
        let mut stamp = recent::stamp(&tx)?;
        if !recent.holds(stamp, now) {
            if store::maintenance_due(&tx, now)? {
                drop(tx);
                self.maintain(&mut conn)?;
                tx = conn
                    .transaction_with_behavior(TransactionBehavior::Deferred)
                    .map_err(db)?;
                stamp = recent::stamp(&tx)?;
            }
            self.root.check_current(&tx, self.keystore())?;
            recent.restart(stamp, store::next_due(&tx)?);
        }
        f(&Reader {
            conn: &tx,
            recent: std::cell::RefCell::new(&mut recent),
        })
    }

    /// Deletes keys whose waiting period is over and rotates keys whose
    /// automatic rotation is due. Cheap when there is nothing to do.
    fn maintain(&self, conn: &mut Connection) -> Result<(), KmsError> {
        let now = self.now();
        if !store::maintenance_due(conn, now)? {
            return Ok(());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        self.root.check_current(&tx, self.keystore())?;
        let expired = store::expired_keys(&tx, now)?;
        for id in &expired {
            store::delete_key(&tx, id)?;
        }
        for mut row in store::due_rotations(&tx, now)? {
            self.rotate(&tx, &mut row, "AUTOMATIC")?;
            let period = row.rotation_period.unwrap_or(365).max(1) as u64;
            row.next_rotation = Some(now + period * DAY);
            store::update_key(&tx, &row)?;
        }
        tx.commit().map_err(db)?;
        if !expired.is_empty() {
            shred::checkpoint(conn)?;
        }
        Ok(())
    }

    /// Adds a new backing-key version and makes it current (the caller saves `row`).
    pub(crate) fn rotate(&self, c: &Connection, row: &mut KeyRow, kind: &str) -> Result<(), KmsError> {
        let version = row
            .current_version
            .checked_add(1)
            .ok_or_else(|| KmsError::internal("backing-key version overflow"))?;
        let material = random_secret(BACKING_LEN)?;
        let ekt = self.root.seal_token(Binding::key(row, version), &material)?;
        store::insert_backing(c, &row.key_id, version, self.now(), Some(kind), &ekt)?;
        row.current_version = version;
        Ok(())
    }

    /// Inserts a new enabled key with `material` as version 1.
    pub(crate) fn new_key(
        &self,
        c: &Connection,
        spec: KeySpec,
        description: String,
        material: &[u8],
        public_key: Option<Vec<u8>>,
    ) -> Result<KeyRow, KmsError> {
        let mut id = [0u8; 16];
        crate::crypto::fill_random(&mut id)?;
        let key_id = uuid::Builder::from_random_bytes(id)
            .into_uuid()
            .hyphenated()
            .to_string();
        let row = KeyRow {
            key_id,
            created: self.now(),
            description,
            key_spec: spec,
            key_usage: KeyUsage::EncryptDecrypt,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            rotation_period: None,
            next_rotation: None,
            current_version: 1,
            on_demand_rotations: 0,
            public_key,
        };
        let ekt = self.root.seal_token(Binding::key(&row, 1), material)?;
        store::insert_key(c, &row)?;
        store::insert_backing(c, &row.key_id, 1, row.created, None, &ekt)?;
        Ok(row)
    }

    /// Finds the key an identifier names. `allow_alias` is false for the
    /// operations that take only a key id or key ARN.
    pub(crate) fn resolve(
        &self,
        c: &Connection,
        id: &str,
        field: &str,
        allow_alias: bool,
    ) -> Result<KeyRow, KmsError> {
        let key_id = self.key_id_of(id, field, allow_alias, |a| self.alias_key_id(c, &a))?;
        self.key_by_id(c, &key_id)
    }

    /// The key id an identifier names: as given for a key id or key ARN, or
    /// through `alias_target` for an alias.
    pub(crate) fn key_id_of(
        &self,
        id: &str,
        field: &str,
        allow_alias: bool,
        alias_target: impl FnOnce(String) -> Result<String, KmsError>,
    ) -> Result<String, KmsError> {
        match parse_key_ref(&self.identity, id, field, allow_alias)? {
            KeyRef::Key(k) => Ok(k),
            KeyRef::Alias(a) => alias_target(a),
        }
    }

    /// The key an alias points to.
    pub(crate) fn alias_key_id(&self, c: &Connection, alias: &str) -> Result<String, KmsError> {
        Ok(store::get_alias(c, alias)?
            .ok_or_else(|| self.alias_not_found(alias))?
            .target_key_id)
    }

    pub(crate) fn alias_not_found(&self, alias: &str) -> KmsError {
        KmsError::not_found(format!("Alias {} is not found.", self.identity.alias_arn(alias)))
    }

    pub(crate) fn key_by_id(&self, c: &Connection, key_id: &str) -> Result<KeyRow, KmsError> {
        store::get_key(c, key_id)?
            .ok_or_else(|| KmsError::not_found(format!("Key '{}' does not exist", self.arn(key_id))))
    }

    /// Decrypts version `version` of a key's material; `None` if there is no such version.
    pub(crate) fn material(
        &self,
        c: &Connection,
        row: &KeyRow,
        version: u32,
    ) -> Result<Option<Secret>, KmsError> {
        match store::get_backing(c, &row.key_id, version)? {
            Some(ekt) => self.root.open_token(Binding::key(row, version), &ekt).map(Some),
            None => Ok(None),
        }
    }

    /// Refuses cryptographic use of a key that is not Enabled.
    pub(crate) fn check_usable(&self, row: &KeyRow) -> Result<(), KmsError> {
        match row.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::new(
                KmsErrorKind::DisabledException,
                format!("{} is disabled.", self.arn(&row.key_id)),
            )),
            KeyState::PendingDeletion => Err(self.pending_deletion(row)),
        }
    }

    pub(crate) fn pending_deletion(&self, row: &KeyRow) -> KmsError {
        KmsError::new(
            KmsErrorKind::KMSInvalidStateException,
            format!("{} is pending deletion.", self.arn(&row.key_id)),
        )
    }

    pub(crate) fn metadata(&self, row: &KeyRow) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.identity.account_id.clone(),
            key_id: row.key_id.clone(),
            arn: self.arn(&row.key_id),
            creation_date: row.created,
            enabled: row.state == KeyState::Enabled,
            description: row.description.clone(),
            key_usage: row.key_usage,
            key_state: row.state,
            deletion_date: row.deletion_date,
            origin: "AWS_KMS".into(),
            key_manager: "CUSTOMER".into(),
            customer_master_key_spec: row.key_spec,
            key_spec: row.key_spec,
            encryption_algorithms: row.key_spec.encryption_algorithms(),
            multi_region: false,
            pending_deletion_window_in_days: row.pending_window_days,
        }
    }

    /// Generates the material of a new key outside any transaction (RSA
    /// generation is slow): (private material, public key).
    pub(crate) fn generate_material(spec: KeySpec) -> Result<(Secret, Option<Vec<u8>>), KmsError> {
        match spec {
            KeySpec::SymmetricDefault => Ok((random_secret(BACKING_LEN)?, None)),
            _ => rsa::generate(spec).map(|(private, public)| (private, Some(public))),
        }
    }
}

/// AWS's message for a value below or above a numeric range.
pub(crate) fn check_range(field: &str, v: i64, min: i64, max: i64) -> Result<(), KmsError> {
    let (rel, bound) = if v < min {
        ("greater than or equal to", min)
    } else if v > max {
        ("less than or equal to", max)
    } else {
        return Ok(());
    };
    Err(KmsError::validation(format!(
        "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: \
         Member must have value {rel} {bound}"
    )))
}

/// AWS's message for a blob or string outside its length range.
pub(crate) fn check_len(field: &str, len: usize, min: usize, max: usize) -> Result<(), KmsError> {
    let (rel, bound) = if len < min {
        ("greater than or equal to", min)
    } else if len > max {
        ("less than or equal to", max)
    } else {
        return Ok(());
    };
    Err(KmsError::validation(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
         Member must have length {rel} {bound}"
    )))
}
