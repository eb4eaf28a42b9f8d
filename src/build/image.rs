//! Image units without tasks are assembled by yoe, not by a shell: the rootfs is the merge
//! of the outputs of the image's artifacts and their runtime closure, every file owned by
//! root (as Go yoe's packages force), and each ext4 partition is written by our ext4
//! driver from a manifest. No root, no loop devices, no mkfs at run time. The rootfs is
//! assembled and written beneath directory fds ([`crate::fsx`]); the deps' outputs it is made
//! from are not trusted (nothing in them is followed).
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fsx::{Dir, RelPath};
use crate::model::{PartitionType, Project, Unit};

use super::dirs::UnitDirs;
use super::tree::{Mode, copy_dirs};

/// The image's artifacts and their runtime deps, deps first, names resolved.
pub fn rootfs_closure(project: &Project, image: &Unit) -> Result<Vec<String>, String> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue: Vec<String> = image.artifacts.iter().map(|a| project.resolve_name(a).to_string()).collect();
    while let Some(n) = queue.pop() {
        if deps.contains_key(&n) {
            continue;
        }
        let u =
            project.units.get(&n).ok_or_else(|| format!("artifact {n:?} of image {:?} is not a unit", image.name))?;
        let rd: Vec<String> =
            u.runtime_deps_for(&project.distro).iter().map(|d| project.resolve_name(d).to_string()).collect();
        queue.extend(rd.iter().cloned());
        deps.insert(n, rd);
    }
    Ok(crate::graph::topo_layers(&deps))
}

/// Assemble `destdir/rootfs` and one `<image>.<label>.ext4` per ext4 partition (the root
/// partition gets the rootfs). Returns the files written and notes for the log.
pub fn assemble(
    project: &Project,
    image: &Unit,
    dirs: &UnitDirs,
    dirs_of: &dyn Fn(&Unit) -> Result<UnitDirs, crate::layout::LayoutError>,
    source_date_epoch: u64,
) -> Result<(Vec<PathBuf>, Vec<String>), String> {
    let rootfs = dirs.destdir.join("rootfs");
    let rootfs_dir = Dir::open(&dirs.destdir)
        .and_then(|d| d.create_dir_all(RelPath::new("rootfs")?, 0o755))
        .map_err(|e| format!("creating the rootfs: {e}"))?;
    let mut notes = Vec::new();
    for name in rootfs_closure(project, image)? {
        let d = dirs_of(&project.units[&name]).map_err(|e| format!("adding {name} to the rootfs: {e}"))?;
        let from = Dir::open(&d.destdir).map_err(|e| format!("adding {name} to the rootfs: {e}"))?;
        copy_dirs(&from, &rootfs_dir, Mode::Copy).map_err(|e| format!("adding {name} to the rootfs: {e}"))?;
        notes.push(format!("rootfs: added {name}"));
    }
    for (file, value) in [("etc/hostname", &image.hostname), ("etc/timezone", &image.timezone)] {
        if !value.is_empty() {
            // Beneath the rootfs fd: a symlinked `etc` (from a package) is an error naming
            // it, a symlink at the file itself is replaced, never written through.
            let write = || -> Result<(), crate::fsx::FsError> {
                rootfs_dir.create_dir_all(RelPath::new("etc")?, 0o755)?;
                rootfs_dir.write_atomic(RelPath::new(file)?, format!("{value}\n").as_bytes(), 0o644)
            };
            write().map_err(|e| format!("writing {file} in the rootfs: {e}"))?;
        }
    }
    let partitions = if image.partitions.is_empty() {
        project.active_machine().map(|m| m.partitions.clone()).unwrap_or_default()
    } else {
        image.partitions.clone()
    };
    let mut written = Vec::new();
    for p in &partitions {
        match p.kind {
            PartitionType::Vfat => {
                notes.push(format!("partition {:?}: vfat partitions are not written yet (no vfat driver)", p.label));
                continue;
            }
            PartitionType::Ext4 => {}
        }
        let out = dirs.destdir.join(crate::layout::partition_file_name(image, p));
        let mut manifest = if p.root {
            yoe_ext4::from_dir::manifest_from_dir(&rootfs, Some(yoe_ext4::from_dir::Owner { uid: 0, gid: 0 }))
                .map_err(|e| format!("describing the rootfs: {e}"))?
        } else {
            yoe_ext4::Manifest { entries: Vec::new() }
        };
        let t = yoe_ext4::format::Timestamp { secs: source_date_epoch as i64, nanos: 0 };
        for e in &mut manifest.entries {
            e.mtime = Some(t);
            e.atime = Some(t);
            e.ctime = Some(t);
        }
        let mut opts = yoe_ext4::Options { label: p.label.as_bytes().to_vec(), default_time: t, ..Default::default() };
        if let Some(Some(mib)) = crate::model::machine::parse_size_mib(&p.size) {
            opts.size = yoe_ext4::Size::Fixed(mib * 1024 * 1024);
        }
        let sources = yoe_ext4::Sources::new(Some(&rootfs), None).map_err(|e| format!("opening the rootfs: {e}"))?;
        let report = yoe_ext4::write_image(&manifest, &sources, &opts, &out)
            .map_err(|e| format!("writing partition {:?} ({}): {e}", p.label, out.display()))?;
        notes.push(format!(
            "partition {:?}: {} ({} bytes, {} entries, {} free blocks)",
            p.label,
            out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            report.image_bytes,
            report.entries,
            report.free_blocks
        ));
        written.push(out);
    }
    Ok((written, notes))
}
