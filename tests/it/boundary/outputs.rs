//! Outputs that cost yoe more than they should: a 1 GiB sparse file (it must stay sparse in
//! every copy and be hashed without reading its holes) and a 2,500-deep directory tree (a
//! clear error naming the limit, and the next build must clean it up without the user).
use std::os::unix::fs::MetadataExt;

use super::{PROJECT, World, identities, machine};

#[test]
fn a_sparse_output_stays_sparse_through_the_sysroot_and_the_image() {
    let units = r#"
unit(name = "sparse", tasks = [task("build", steps = ["truncate -s 1G $DESTDIR/big && printf tail >> $DESTDIR/big"])])
unit(name = "user", deps = ["sparse"], tasks = [task("build", steps = ["test $(stat -c %s /build/sysroot/big) -eq 1073741828 && touch $DESTDIR/ok"])])
image(name = "img", artifacts = ["sparse"])
"#;
    for who in identities() {
        let w =
            World::new(who, &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("2G")), ("units/u.star", units)]);
        let r = w.yoe(&["--json", "build", "-j", "2"]);
        for u in ["sparse", "user", "img"] {
            assert_eq!(r.outcome(u).as_deref(), Some("built"), "[{}] {u}: {}", who.label(), r.stderr());
        }
        let copy = w.unit_dir("img").join("destdir/rootfs/big");
        let m = std::fs::metadata(&copy).expect("rootfs copy");
        assert_eq!(m.len(), (1 << 30) + 4);
        assert!(m.blocks() * 512 < 16 << 20, "[{}] the rootfs copy is dense: {} blocks", who.label(), m.blocks());
        let img = w.unit_dir("img").join("destdir/img.rootfs.ext4");
        let m = std::fs::metadata(&img).expect("partition image");
        assert!(m.blocks() * 512 < 256 << 20, "[{}] the ext4 image is dense: {} blocks", who.label(), m.blocks());
        // The cached rebuild re-verifies every output (re-hashing the sparse file).
        let r = w.yoe(&["--json", "build", "-j", "2"]);
        assert_eq!(r.outcome("img").as_deref(), Some("cached"), "[{}] {}", who.label(), r.stderr());
        w.assert_intact("sparse outputs");
    }
}

#[test]
fn a_deep_tree_fails_clearly_and_is_cleaned_up_by_the_next_build() {
    let deep = r#"unit(name = "deep", tasks = [task("build", steps = ["cd $DESTDIR && for i in $(seq 2500); do mkdir d && cd d || exit 1; done && echo bottom > f"])])
"#;
    for who in identities() {
        let w =
            World::new(who, &[("PROJECT.star", PROJECT), ("machines/m.star", &machine("2G")), ("units/u.star", deep)]);
        let r = w.yoe(&["--json", "build", "-j", "1"]);
        assert_eq!(r.outcome("deep").as_deref(), Some("failed"), "[{}] {}", who.label(), r.stderr());
        assert!(r.stderr().contains("deep"), "[{}] the error names the limit: {}", who.label(), r.stderr());
        // Fixed: the next build resets the unit's dirs by itself.
        std::fs::write(
            w.project.join("units/u.star"),
            "unit(name = \"deep\", tasks = [task(\"build\", steps = [\"echo ok > $DESTDIR/f\"])])\n",
        )
        .expect("write");
        let r = w.yoe(&["--json", "build", "-j", "1"]);
        assert_eq!(r.outcome("deep").as_deref(), Some("built"), "[{}] {}", who.label(), r.stderr());
        assert!(!w.unit_dir("deep").join("destdir/d").exists());
        w.assert_intact("deep outputs");
    }
}
