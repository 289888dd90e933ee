//! Where the sink's files live: HDFS through the native-protocol client `hdfs-native`, or the
//! local disk (Flume's `LocalFileSystem` for `file:` paths, and for paths without a scheme when
//! no Hadoop configuration names an `fs.defaultFS`).
//!
//! Every HDFS call runs under `hdfs.callTimeout` (Flume's `callWithTimeout`): a hung NameNode or
//! DataNode turns into a failed, rolled-back batch instead of a stuck sink.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FsError {
    #[error("{op} {path}: {message}")]
    Io {
        op: &'static str,
        path: String,
        message: String,
    },
    #[error("{op} {path}: no answer within hdfs.callTimeout ({timeout:?})")]
    Timeout {
        op: &'static str,
        path: String,
        timeout: Duration,
    },
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
}

fn io(op: &'static str, path: &str, e: impl std::fmt::Display) -> FsError {
    FsError::Io {
        op,
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// A file system the sink writes to. Paths are absolute within it (no scheme, no authority).
pub trait FileSystem: Send {
    /// Creates `path` (and its parents) for writing; fails if it exists.
    fn create(&mut self, path: &str) -> Result<Box<dyn OutFile>, FsError>;
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError>;
    fn exists(&mut self, path: &str) -> Result<bool, FsError>;
    /// The names of the files directly in `dir`; empty when `dir` does not exist.
    fn list(&mut self, dir: &str) -> Result<Vec<String>, FsError>;
    /// Makes the NameNode close `path` for whoever holds its lease (HDFS `recoverLease`), keeping
    /// every byte a writer had synced: `true` once the file is closed, `false` while the
    /// recovery runs (ask again). A local file has no lease: always `true`.
    fn recover_lease(&mut self, path: &str) -> Result<bool, FsError>;
    /// Removes the file `path`, open or not; `Ok` if it is not there.
    fn delete(&mut self, path: &str) -> Result<(), FsError>;
}

/// A file being written.
pub trait OutFile: Send {
    /// Writes `data` and makes it visible to readers and safe from a crash of this process
    /// (Flume's `hflush` per batch; rflume's HDFS client offers the stronger `hsync`).
    fn write_and_flush(&mut self, data: Bytes) -> Result<(), FsError>;
    fn close(&mut self) -> Result<(), FsError>;
}

/// Where a path points: the file system to open and the path within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `hdfs://authority` (a NameNode `host:port` or an HA nameservice).
    Hdfs {
        url: String,
    },
    Local,
}

/// Splits a rendered `hdfs.path` into its file system and the path within it, the way Hadoop's
/// `Path.getFileSystem` does: `hdfs://nn:8020/a` → (hdfs://nn:8020, /a); `file:///a` → local;
/// `/a` → `fs.defaultFS` when a Hadoop configuration names one, else local.
pub fn split(path: &str, default_fs: Option<&str>) -> Result<(Target, String), String> {
    if let Some(rest) = path.strip_prefix("hdfs://") {
        let (authority, p) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return match default_fs {
                Some(d) if d.starts_with("hdfs://") => split(&format!("{d}{p}"), None),
                _ => Err(format!(
                    "'{path}' names no NameNode and no fs.defaultFS is configured"
                )),
            };
        }
        return Ok((
            Target::Hdfs {
                url: format!("hdfs://{authority}"),
            },
            p.to_string(),
        ));
    }
    if let Some(rest) = path.strip_prefix("file://") {
        return Ok((Target::Local, rest.to_string()));
    }
    if let Some(rest) = path.strip_prefix("file:") {
        return Ok((Target::Local, rest.to_string()));
    }
    if let Some((scheme, _)) = path.split_once("://") {
        if scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        {
            return Err(format!(
                "the '{scheme}' file system is not supported by rflume's HDFS sink (use hdfs:// or file://)"
            ));
        }
    }
    match default_fs {
        Some(d) if d.starts_with("hdfs://") => {
            let d = d.trim_end_matches('/');
            let p = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/user/{}/{path}", user_name())
            };
            split(&format!("{d}{p}"), None)
        }
        Some(d) if d.starts_with("file:") || d.is_empty() => Ok((Target::Local, path.to_string())),
        Some(d) => Err(format!(
            "fs.defaultFS '{d}' is not a file system rflume's HDFS sink supports (hdfs:// or file://)"
        )),
        None => Ok((Target::Local, path.to_string())),
    }
}

/// Hadoop's user name: `HADOOP_USER_NAME`, else the login name.
fn user_name() -> String {
    std::env::var("HADOOP_USER_NAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "flume".to_string())
}

/// `fs.defaultFS` (or its old name `fs.default.name`) from the `core-site.xml` Flume would find
/// on its classpath: `$HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop` (where the `hadoop`
/// script `flume-ng` asks for the classpath looks). `None` with neither: Flume's Hadoop then
/// uses the local file system.
pub fn default_fs() -> Option<(String, PathBuf)> {
    let dirs = [
        std::env::var_os("HADOOP_CONF_DIR").map(PathBuf::from),
        std::env::var_os("HADOOP_HOME").map(|h| PathBuf::from(h).join("etc/hadoop")),
    ];
    for dir in dirs.into_iter().flatten() {
        let file = dir.join("core-site.xml");
        let Ok(xml) = fs::read_to_string(&file) else {
            continue;
        };
        let value =
            xml_property(&xml, "fs.defaultFS").or_else(|| xml_property(&xml, "fs.default.name"));
        if let Some(v) = value {
            return Some((v, dir));
        }
    }
    None
}

/// The value of `<property><name>NAME</name><value>V</value></property>` in a Hadoop site file.
/// A small reader on purpose: site files are flat, and only one key is needed here.
pub fn xml_property(xml: &str, name: &str) -> Option<String> {
    let needle = format!("<name>{name}</name>");
    let at = xml.find(&needle)? + needle.len();
    let rest = &xml[at..];
    let end_prop = rest.find("</property>").unwrap_or(rest.len());
    let rest = &rest[..end_prop];
    let v0 = rest.find("<value>")? + "<value>".len();
    let v1 = rest[v0..].find("</value>")? + v0;
    Some(rest[v0..v1].trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// Local disk
// ---------------------------------------------------------------------------------------------

pub struct LocalFs;

struct LocalFile {
    path: String,
    file: Option<File>,
}

impl FileSystem for LocalFs {
    fn create(&mut self, path: &str) -> Result<Box<dyn OutFile>, FsError> {
        if let Some(parent) = Path::new(path).parent() {
            fs::create_dir_all(parent).map_err(|e| io("mkdirs", path, e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io("create", path, e))?;
        Ok(Box::new(LocalFile {
            path: path.to_string(),
            file: Some(file),
        }))
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        fs::rename(from, to).map_err(|e| io("rename", from, e))
    }
    fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        Ok(Path::new(path).exists())
    }
    fn list(&mut self, dir: &str) -> Result<Vec<String>, FsError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io("list", dir, e))?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }
    fn recover_lease(&mut self, _path: &str) -> Result<bool, FsError> {
        Ok(true)
    }
    fn delete(&mut self, path: &str) -> Result<(), FsError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("delete", path, e)),
            _ => Ok(()),
        }
    }
}

impl OutFile for LocalFile {
    fn write_and_flush(&mut self, data: Bytes) -> Result<(), FsError> {
        let Some(f) = self.file.as_mut() else {
            return Err(io("write", &self.path, "the file is closed"));
        };
        // In the kernel once written: a crash of rflume loses nothing, as with Flume's hflush on
        // a local file system.
        f.write_all(&data).map_err(|e| io("write", &self.path, e))
    }
    fn close(&mut self) -> Result<(), FsError> {
        if let Some(f) = self.file.take() {
            f.sync_data().map_err(|e| io("close", &self.path, e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// HDFS
// ---------------------------------------------------------------------------------------------

/// The I/O runtime every HDFS client of the process shares: the client's connections and
/// DataNode pipelines run on its two threads; the sink's thread blocks on each call.
fn io_runtime() -> Result<&'static tokio::runtime::Runtime, FsError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rflume-hdfs-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| FsError::Connect {
        url: "hdfs".into(),
        message: format!("cannot start the I/O runtime: {e}"),
    })
}

pub struct HdfsFs {
    url: String,
    client: Arc<hdfs_native::Client>,
    rt: &'static tokio::runtime::Runtime,
    timeout: Duration,
}

impl HdfsFs {
    pub fn connect(
        url: &str,
        conf_dir: Option<&Path>,
        timeout: Duration,
    ) -> Result<HdfsFs, FsError> {
        let rt = io_runtime()?;
        let mut builder = hdfs_native::ClientBuilder::new()
            .with_url(url)
            .with_io_runtime(rt.handle().clone());
        if let Some(dir) = conf_dir {
            builder = builder.with_config_dir(dir.to_string_lossy().into_owned());
        }
        let client = builder.build().map_err(|e| FsError::Connect {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        Ok(HdfsFs {
            url: url.to_string(),
            client: Arc::new(client),
            rt,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Runs `f` on the I/O runtime from the sink's thread, giving up after `timeout` (0 = never,
/// as Flume's callTimeout 0).
fn call<T>(
    rt: &tokio::runtime::Runtime,
    timeout: Duration,
    op: &'static str,
    path: &str,
    f: impl Future<Output = hdfs_native::Result<T>>,
) -> Result<T, FsError> {
    let out = if timeout.is_zero() {
        rt.block_on(f)
    } else {
        match rt.block_on(async { tokio::time::timeout(timeout, f).await }) {
            Ok(r) => r,
            Err(_) => {
                return Err(FsError::Timeout {
                    op,
                    path: path.to_string(),
                    timeout,
                })
            }
        }
    };
    out.map_err(|e| io(op, path, e))
}

struct HdfsFile {
    path: String,
    writer: Option<hdfs_native::file::FileWriter>,
    rt: &'static tokio::runtime::Runtime,
    timeout: Duration,
}

impl FileSystem for HdfsFs {
    fn create(&mut self, path: &str) -> Result<Box<dyn OutFile>, FsError> {
        let opts = hdfs_native::WriteOptions::default();
        let client = Arc::clone(&self.client);
        let writer = call(self.rt, self.timeout, "create", path, async move {
            client.create(path, opts).await
        })?;
        Ok(Box::new(HdfsFile {
            path: path.to_string(),
            writer: Some(writer),
            rt: self.rt,
            timeout: self.timeout,
        }))
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let client = Arc::clone(&self.client);
        call(self.rt, self.timeout, "rename", from, async move {
            client.rename(from, to, false).await
        })
    }
    fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        let client = Arc::clone(&self.client);
        let found = call(self.rt, self.timeout, "stat", path, async move {
            match client.get_file_info(path).await {
                Ok(_) => Ok(true),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        Ok(found)
    }
    fn list(&mut self, dir: &str) -> Result<Vec<String>, FsError> {
        let client = Arc::clone(&self.client);
        call(self.rt, self.timeout, "list", dir, async move {
            match client.list_status(dir, false).await {
                Ok(statuses) => Ok(statuses
                    .into_iter()
                    .filter(|s| !s.isdir)
                    .map(|s| s.path.rsplit('/').next().unwrap_or_default().to_string())
                    .collect()),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }
    fn recover_lease(&mut self, path: &str) -> Result<bool, FsError> {
        let client = Arc::clone(&self.client);
        call(self.rt, self.timeout, "recoverLease", path, async move {
            client.recover_lease(path).await
        })
    }
    fn delete(&mut self, path: &str) -> Result<(), FsError> {
        let client = Arc::clone(&self.client);
        // `false` is "not there": nothing to remove.
        call(self.rt, self.timeout, "delete", path, async move {
            client.delete(path, false).await.map(|_| ())
        })
    }
}

impl OutFile for HdfsFile {
    fn write_and_flush(&mut self, data: Bytes) -> Result<(), FsError> {
        let Some(w) = self.writer.as_mut() else {
            return Err(io("write", &self.path, "the file is closed"));
        };
        call(self.rt, self.timeout, "write", &self.path, async {
            w.write_bytes(data).await?;
            w.hsync().await
        })
    }
    fn close(&mut self) -> Result<(), FsError> {
        if let Some(mut w) = self.writer.take() {
            call(self.rt, self.timeout, "close", &self.path, async move {
                w.close().await
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_as_hadoop_does() {
        let hdfs = |u: &str| Target::Hdfs { url: u.into() };
        assert_eq!(
            split("hdfs://nn:8020/flume/x", None).unwrap(),
            (hdfs("hdfs://nn:8020"), "/flume/x".into())
        );
        assert_eq!(
            split("hdfs://ns1/flume", None).unwrap(),
            (hdfs("hdfs://ns1"), "/flume".into())
        );
        assert_eq!(
            split("/flume/x", Some("hdfs://nn:9000/")).unwrap(),
            (hdfs("hdfs://nn:9000"), "/flume/x".into())
        );
        assert_eq!(
            split("/flume/x", None).unwrap(),
            (Target::Local, "/flume/x".into())
        );
        assert_eq!(
            split("file:///tmp/x", Some("hdfs://nn:9000")).unwrap(),
            (Target::Local, "/tmp/x".into())
        );
        assert!(split("s3a://bucket/x", None).is_err());
        assert!(split("hdfs:///x", None).is_err());
    }

    #[test]
    fn core_site_property() {
        let xml = "<configuration>\n<property>\n <name>hadoop.tmp.dir</name><value>/t</value></property>\
                   <property><name>fs.defaultFS</name>\n  <value> hdfs://nn:8020 </value>\n</property></configuration>";
        assert_eq!(
            xml_property(xml, "fs.defaultFS").as_deref(),
            Some("hdfs://nn:8020")
        );
        assert_eq!(xml_property(xml, "fs.default.name"), None);
    }

    #[test]
    fn local_files_are_created_once_written_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/f.tmp").to_string_lossy().into_owned();
        let mut fs = LocalFs;
        let mut f = fs.create(&p).unwrap();
        assert!(fs.create(&p).is_err(), "create must not overwrite");
        f.write_and_flush(Bytes::from_static(b"one\n")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one\n");
        f.close().unwrap();
        let q = p.trim_end_matches(".tmp").to_string();
        fs.rename(&p, &q).unwrap();
        assert!(!fs.exists(&p).unwrap());
        assert!(fs.exists(&q).unwrap());
    }
}
