//! The HDFS sink (`type = hdfs`) against a real HDFS: Hadoop 2.7.3's NameNode and DataNode as
//! child processes (tests/common/hdfs.rs), what the sink wrote read back with Hadoop's own
//! `FsShell`. One HDFS serves every test of this binary; each test writes under its own folder.

mod common;

use common::hdfs::Hdfs;

/// The harness itself: a file put with Hadoop's shell is listed and read back byte for byte.
#[test]
fn harness_round_trips_a_file_through_hadoops_shell() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("harness");
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("in.txt");
    let bytes = b"one\ntwo\n\xff\x00three".to_vec();
    std::fs::write(&file, &bytes).unwrap();
    let dst = format!("{dir}/in.txt");
    hdfs.shell(&["-mkdir", "-p", &dir]).unwrap();
    hdfs.shell(&["-put", file.to_str().unwrap(), &dst]).unwrap();
    assert_eq!(hdfs.files(&dir), [(dst.clone(), bytes.len() as u64)]);
    assert_eq!(hdfs.cat(&dst), bytes);
}
