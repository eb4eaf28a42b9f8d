//! The predeclared functions of the yoe dialect. Each converts its arguments to raw data,
//! lets `crate::model` validate them, and records the result in the [`Engine`]. Nothing here
//! touches the filesystem except to check an `install_file` source stays inside its root.
use std::path::{Component, Path};

use ::starlark::collections::SmallMap;
use ::starlark::environment::GlobalsBuilder;
use ::starlark::eval::Evaluator;
use ::starlark::starlark_module;
use ::starlark::values::list::{AllocList, ListRef};
use ::starlark::values::none::NoneType;
use ::starlark::values::structs::AllocStruct;
use ::starlark::values::tuple::UnpackTuple;
use ::starlark::values::{Heap, Value};
use anyhow::{anyhow, bail};

use super::convert::{TooDeep, to_raw, to_raw_plain};
use super::engine::{Engine, ModuleInfo, Phase, source_name};
use super::limits::{Limit, LoadLimits};
use super::runtime::BuildExtra;
use super::values::InstallStepValue;
use crate::model::fields::Kwargs;
use crate::model::machine::{Kernel, Partition, QemuConfig};
use crate::model::project::{CACHE_FIELDS, DEFAULTS_FIELDS, LocalOverrides, ProjectDecl};
use crate::model::unit::{ContainerImages, is_external_image};
use crate::model::{Feed, FieldError, Ident, InstallKind, InstallStep, Machine, ModuleRef, NameKind, RawValue, Unit};

fn engine<'a>(eval: &'a Evaluator, name: &str) -> anyhow::Result<&'a Engine> {
    Engine::from_eval(eval).ok_or_else(|| anyhow!("{name}() can only be called while a project is loading"))
}

type Raw = Vec<(String, RawValue)>;

/// The load's `max_value_depth` (the embedded one outside a load).
fn value_depth(eval: &Evaluator) -> usize {
    Engine::from_eval(eval).map_or_else(LoadLimits::embedded, |e| e.meter.limits).depth(Limit::ValueDepth)
}

/// A value too deep to hand to yoe: the load stops at this limit.
fn too_deep(eval: &Evaluator, what: &str, e: TooDeep) -> anyhow::Error {
    match Engine::from_eval(eval) {
        Some(engine) => anyhow!("{what}: {}", engine.meter.trip(Limit::ValueDepth)),
        None => {
            anyhow!("{what}: {}: load limit `{}` = {}", Limit::ValueDepth.what(), Limit::ValueDepth.key(), e.max_depth)
        }
    }
}

fn raw_kwargs<'v>(
    kwargs: &SmallMap<String, Value<'v>>,
    eval: &Evaluator<'v, '_, '_>,
    engine: &Engine,
) -> anyhow::Result<Raw> {
    let module = eval.module();
    let max = value_depth(eval);
    kwargs
        .iter()
        .map(|(k, v)| {
            to_raw(*v, &mut |f| RawValue::Callable(engine.stash(f, module)), max)
                .map(|r| (k.clone(), r))
                .map_err(|e| too_deep(eval, &format!("field `{k}`"), e))
        })
        .collect()
}

/// Raw kwargs of builtins whose fields can never be functions.
fn plain_kwargs<'v>(kwargs: &SmallMap<String, Value<'v>>, eval: &Evaluator<'v, '_, '_>) -> anyhow::Result<Raw> {
    kwargs.iter().map(|(k, v)| Ok((k.clone(), plain(*v, eval, &format!("field `{k}`"))?))).collect()
}

fn plain<'v>(v: Value<'v>, eval: &Evaluator<'v, '_, '_>, what: &str) -> anyhow::Result<RawValue> {
    to_raw_plain(v, value_depth(eval)).map_err(|e| too_deep(eval, what, e))
}

fn struct_of<'v>(heap: Heap<'v>, fields: Vec<(String, Value<'v>)>) -> Value<'v> {
    heap.alloc(AllocStruct(fields))
}

fn kwargs_struct<'v>(
    heap: Heap<'v>,
    first: Option<(&str, Value<'v>)>,
    kwargs: &SmallMap<String, Value<'v>>,
) -> Value<'v> {
    let mut fields: Vec<(String, Value<'v>)> = Vec::new();
    if let Some((k, v)) = first {
        fields.push((k.to_string(), v));
    }
    for (k, v) in kwargs.iter() {
        if !fields.iter().any(|(f, _)| f == k) {
            fields.push((k.clone(), *v));
        }
    }
    struct_of(heap, fields)
}

/// A refused field: recorded for a located diagnostic while a project loads.
fn refuse(eval: &Evaluator, e: FieldError) -> anyhow::Error {
    match Engine::from_eval(eval) {
        Some(engine) => engine.refuse(eval, e),
        None => anyhow!("{e}"),
    }
}

fn check(r: Result<(), FieldError>) -> anyhow::Result<()> {
    r.map_err(|e| anyhow!("{e}"))
}

/// What a MODULE.star needs to say who it is (also all the peek evaluator knows).
#[starlark_module]
pub fn module_globals(builder: &mut GlobalsBuilder) {
    /// `module(url, ref=, commit=, path=, local=)`.
    fn module<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let heap = eval.heap();
        if args.items.len() > 1 {
            bail!("module() takes one positional argument (the URL), got {}", args.items.len());
        }
        let url = args.items.first().copied();
        if let Some(u) = url
            && u.unpack_str().is_none()
        {
            bail!("module(): the URL must be a string, got {}", u.get_type());
        }
        let mut raw = plain_kwargs(&kwargs, eval)?;
        if let Some(u) = url {
            raw.insert(0, ("url".into(), plain(u, eval, "the URL")?));
        }
        ModuleRef::from_struct(raw, None).map_err(|x| anyhow!("{x}"))?;
        Ok(kwargs_struct(heap, url.map(|u| ("url", u)), &kwargs))
    }

    /// `module_info(name=, description=, deps=[module(...)])`: in MODULE.star.
    fn module_info<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let e = engine(eval, "module_info")?;
        let at = e.site(eval).defined_at;
        let mut kw = Kwargs::new("module_info()", plain_kwargs(&kwargs, eval)?);
        let info = ModuleInfo {
            name: kw.required_ident("name", NameKind::Module).map_err(|x| e.refuse(eval, x))?,
            description: kw.str("description").map_err(|x| anyhow!("{x}"))?.unwrap_or_default(),
            deps: kw
                .struct_list("deps", "module")
                .map_err(|x| anyhow!("{x}"))?
                .into_iter()
                .map(|f| ModuleRef::from_struct(f, Some(at.clone())))
                .collect::<Result<_, _>>()
                .map_err(|x| anyhow!("{x}"))?,
        };
        check(kw.deny_unknown(&["name", "description", "deps"]))?;
        e.state.borrow_mut().module_info = Some(info);
        Ok(NoneType)
    }

    /// `alpine_feed(name=, url=, ...)`: recorded in the model, never fetched at load time.
    fn alpine_feed<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        feed(kwargs, eval, "alpine_feed")
    }

    /// `apt_feed(name=, distro=, url=, ...)`: recorded in the model, never fetched at load time.
    fn apt_feed<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        feed(kwargs, eval, "apt_feed")
    }
}

/// Everything else of the dialect.
#[starlark_module]
pub fn yoe_globals(builder: &mut GlobalsBuilder) {
    /// `project(name=, version=, description=, defaults=, cache=, modules=, signing_key=,
    /// prefer_modules=, trusted_keys=)`: only in PROJECT.star, exactly once.
    fn project<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let e = engine(eval, "project")?;
        if e.phase() != Phase::Project {
            bail!("project() may only be called in PROJECT.star");
        }
        if e.state.borrow().project.is_some() {
            bail!("project() called more than once");
        }
        let site = e.site(eval);
        let raw = raw_kwargs(&kwargs, eval, e)?;
        let decl = ProjectDecl::from_kwargs(raw, &site.defined_at).map_err(|x| e.refuse(eval, x))?;
        e.state.borrow_mut().project = Some((decl, site.defined_at));
        Ok(NoneType)
    }

    /// `defaults(machine=, image=, distro=)`.
    fn defaults<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let heap = eval.heap();
        let mut kw = Kwargs::new("defaults()", plain_kwargs(&kwargs, eval)?);
        for f in DEFAULTS_FIELDS {
            kw.str(f).map_err(|x| anyhow!("{x}"))?;
        }
        check(kw.deny_unknown(DEFAULTS_FIELDS))?;
        Ok(kwargs_struct(heap, None, &kwargs))
    }

    /// `cache(path=)`.
    fn cache<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let heap = eval.heap();
        let mut kw = Kwargs::new("cache()", plain_kwargs(&kwargs, eval)?);
        kw.str("path").map_err(|x| anyhow!("{x}"))?;
        check(kw.deny_unknown(CACHE_FIELDS))?;
        Ok(kwargs_struct(heap, None, &kwargs))
    }

    /// `machine(name=, arch=, description=, kernel=, packages=, distro_packages=,
    /// partitions=, qemu=)`.
    fn machine<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let e = engine(eval, "machine")?;
        let site = e.site(eval);
        let m = Machine::from_kwargs(plain_kwargs(&kwargs, eval)?, &site.module, site.defined_at)
            .map_err(|x| e.refuse(eval, x))?;
        let mut st = e.state.borrow_mut();
        if let Some(existing) = st.machines.get(m.name.as_str()) {
            let existing_prio = if existing.module.is_empty() { i32::MAX } else { 0 };
            let new_prio = if m.module.is_empty() { i32::MAX } else { 0 };
            if existing.module == m.module {
                bail!(
                    "machine {:?} is already defined at {} ({})",
                    m.name,
                    existing.defined_at.relative_to(&e.root),
                    source_name(&existing.module)
                );
            }
            if existing_prio > new_prio {
                return Ok(NoneType);
            }
        }
        st.machines.insert(m.name.to_string(), m);
        Ok(NoneType)
    }

    /// `kernel(unit= | distro_unit=, provides=, defconfig=, cmdline=)`.
    fn kernel<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        Kernel::from_struct(plain_kwargs(&kwargs, eval)?, "").map_err(|x| refuse(eval, x))?;
        Ok(kwargs_struct(eval.heap(), None, &kwargs))
    }

    /// `qemu_config(machine=, cpu=, memory=, firmware=, display=, ports=)`.
    fn qemu_config<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        QemuConfig::from_struct(plain_kwargs(&kwargs, eval)?, "").map_err(|x| refuse(eval, x))?;
        Ok(kwargs_struct(eval.heap(), None, &kwargs))
    }

    /// `partition(label=, type=, size=, root=, contents=)`.
    fn partition<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        Partition::from_struct(plain_kwargs(&kwargs, eval)?, "").map_err(|x| refuse(eval, x))?;
        Ok(kwargs_struct(eval.heap(), None, &kwargs))
    }

    /// `unit(name=, ...)`: register a unit of class `unit` (or `unit_class=`).
    fn unit<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        register(kwargs, eval, "unit")
    }

    /// `image(name=, ...)`: register a unit of class `image`.
    fn image<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        register(kwargs, eval, "image")
    }

    /// `task(name, run= | fn= | steps=, container=, ...)`: a struct, validated by `unit()`.
    fn task<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let name = match (args.items.as_slice(), kwargs.get("name")) {
            ([n], None) => *n,
            ([], Some(n)) => *n,
            ([], None) => bail!("task() requires a name as its first argument"),
            _ => bail!("task() takes exactly one positional argument (the task name)"),
        };
        if name.unpack_str().is_none() {
            bail!("task(): the name must be a string, got {}", name.get_type());
        }
        Ok(kwargs_struct(heap, Some(("name", name)), &kwargs))
    }

    /// `install_file(src, dest, mode=0o644)`.
    fn install_file<'v>(
        #[starlark(require = pos)] src: &str,
        #[starlark(require = pos)] dest: &str,
        #[starlark(require = named, default = 0o644)] mode: i32,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<InstallStepValue> {
        install_step(eval, InstallKind::File, src, dest, mode)
    }

    /// `install_template(src, dest, mode=0o644)`.
    fn install_template<'v>(
        #[starlark(require = pos)] src: &str,
        #[starlark(require = pos)] dest: &str,
        #[starlark(require = named, default = 0o644)] mode: i32,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<InstallStepValue> {
        install_step(eval, InstallKind::Template, src, dest, mode)
    }

    /// `resolve_closure(names, distro=)`: runtime closure, deps first.
    fn resolve_closure<'v>(
        #[starlark(require = pos)] names: Value<'v>,
        #[starlark(require = named)] distro: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let e = engine(eval, "resolve_closure")?;
        let list = ListRef::from_value(names).ok_or_else(|| {
            anyhow!("resolve_closure(): the argument must be a list of strings, got {}", names.get_type())
        })?;
        let roots = list
            .iter()
            .map(|v| {
                v.unpack_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("resolve_closure(): list element must be a string, got {}", v.get_type()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if distro.is_empty() {
            bail!("resolve_closure(): `distro` is required (the consuming image's effective distro)");
        }
        let out = e.closure(&roots, distro).map_err(|m| anyhow!("resolve_closure(): {m}"))?;
        Ok(eval.heap().alloc(AllocList(out)))
    }

    /// `arg(name, help=, default=, required=, type=)`: for `command()`.
    fn arg<'v>(
        #[starlark(require = pos)] name: Value<'v>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(kwargs_struct(heap, Some(("name", name)), &kwargs))
    }

    /// `command(name=, description=, args=)`: recorded, never executed.
    fn command<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let e = engine(eval, "command")?;
        let name = kwargs.get("name").and_then(|v| v.unpack_str()).ok_or_else(|| anyhow!("command() requires name"))?;
        e.state.borrow_mut().commands.push(name.to_string());
        Ok(NoneType)
    }

    /// `run(cmd, check=True)`: runs a sandboxed step; only inside a task `fn` at build time.
    /// `privileged=True` and `host=True` are refused, always.
    fn run<'v>(
        #[starlark(require = pos)] cmd: &str,
        #[starlark(require = named, default = true)] check: bool,
        #[starlark(require = named, default = false)] privileged: bool,
        #[starlark(require = named, default = false)] host: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        if privileged {
            bail!(
                "run(privileged=True) is refused: yoe never runs build code as root; privileged work (filesystems, images, ownership) is done by yoe's drivers"
            );
        }
        if host {
            bail!("run(host=True) is refused: yoe never runs build code on the host; every step runs in the sandbox");
        }
        let extra = eval
            .extra
            .and_then(|x| x.downcast_ref::<BuildExtra>())
            .ok_or_else(|| anyhow!("run() can only be called at build time (inside a task fn)"))?;
        let out = extra.host.run(cmd).map_err(|m| anyhow!("run(): {m}"))?;
        if check && out.exit_code != 0 {
            bail!("run(): command exited with status {}: {cmd}", out.exit_code);
        }
        let heap = eval.heap();
        Ok(struct_of(
            heap,
            vec![
                ("exit_code".into(), heap.alloc(out.exit_code)),
                ("stdout".into(), heap.alloc(out.stdout)),
                ("stderr".into(), heap.alloc(out.stderr)),
            ],
        ))
    }

    /// `dir_size_mb(subpath)`: MiB of regular files under `$DESTDIR/subpath`, build time only.
    fn dir_size_mb<'v>(
        #[starlark(require = pos)] subpath: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<i32> {
        let extra = eval
            .extra
            .and_then(|x| x.downcast_ref::<BuildExtra>())
            .ok_or_else(|| anyhow!("dir_size_mb() can only be called at build time (inside a task fn)"))?;
        let mb = extra.host.dir_size_mb(subpath).map_err(|m| anyhow!("dir_size_mb(): {m}"))?;
        Ok(i32::try_from(mb).unwrap_or(i32::MAX))
    }

    /// `local(...)`: developer overrides, only in local.star.
    fn local<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let e = engine(eval, "local")?;
        if e.phase() != Phase::Local {
            bail!("local() may only be called in local.star");
        }
        let l = LocalOverrides::from_kwargs(plain_kwargs(&kwargs, eval)?).map_err(|x| e.refuse(eval, x))?;
        e.state.borrow_mut().local = Some(l);
        Ok(NoneType)
    }
}

fn register<'v>(
    kwargs: SmallMap<String, Value<'v>>,
    eval: &mut Evaluator<'v, '_, '_>,
    class: &str,
) -> anyhow::Result<NoneType> {
    let e = engine(eval, class)?;
    if matches!(e.phase(), Phase::Project | Phase::Local | Phase::Peek) {
        bail!("{class}() may not be called in PROJECT.star or local.star");
    }
    let site = e.site(eval);
    let raw = raw_kwargs(&kwargs, eval, e)?;
    let audit = e.state.borrow().audit;
    let images = if audit { ContainerImages::Keep } else { ContainerImages::Refuse };
    let unit = Unit::from_kwargs_with(raw, class, site, images).map_err(|x| e.refuse(eval, x))?;
    if audit {
        let images = std::iter::once(&unit.container).chain(unit.tasks.iter().filter_map(|t| t.container.as_ref()));
        for image in images.filter(|c| is_external_image(c)) {
            let refusal = super::Refusal {
                rule: "unpinned-container-image",
                location: unit.defined_at.clone(),
                message: format!("unit {:?} names the external container image {image:?}", unit.name),
            };
            e.state.borrow_mut().refusals.push(refusal);
        }
    }
    e.register_unit(unit).map_err(|m| anyhow!("{m}"))?;
    Ok(NoneType)
}

fn feed<'v>(
    kwargs: SmallMap<String, Value<'v>>,
    eval: &mut Evaluator<'v, '_, '_>,
    kind: &str,
) -> anyhow::Result<NoneType> {
    let e = engine(eval, kind)?;
    match e.phase() {
        Phase::Peek => return Ok(NoneType),
        Phase::ModuleStar => {}
        _ => bail!("{kind}() may only be called in a module's MODULE.star"),
    }
    let at = e.site(eval).defined_at;
    let mut kw = Kwargs::new(format!("{kind}()"), plain_kwargs(&kwargs, eval)?);
    let name = kw.required_ident("name", NameKind::Feed).map_err(|x| e.refuse(eval, x))?;
    let fields = crate::model::unit::extra_values(&format!("{kind}({:?})", name.as_str()), kw.into_rest())
        .map_err(|x| anyhow!("{x}"))?;
    let mut st = e.state.borrow_mut();
    let module = Ident::new(NameKind::Module, &st.module).map_err(|x| anyhow!("{kind}(): {x}"))?;
    st.feeds.push(Feed { kind: kind.to_string(), module, name, fields, declared_at: at });
    Ok(NoneType)
}

fn install_step(
    eval: &mut Evaluator,
    kind: InstallKind,
    src: &str,
    dest: &str,
    mode: i32,
) -> anyhow::Result<InstallStepValue> {
    let name = match kind {
        InstallKind::File => "install_file",
        InstallKind::Template => "install_template",
    };
    if !(0..=0o7777).contains(&mode) {
        bail!("{name}(): mode must be between 0 and 0o7777, got {mode:#o}");
    }
    let caller = eval
        .call_stack_top_location()
        .map(|l| std::path::PathBuf::from(l.filename()))
        .ok_or_else(|| anyhow!("{name}() must be called from a .star file"))?;
    let dir = caller.parent().unwrap_or(Path::new(""));
    let stem = caller.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let base_dir = dir.join(stem);
    let src_path = Path::new(src);
    if src.is_empty() || src_path.is_absolute() || src_path.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!(
            "{name}({src:?}, ...): the source must be a relative path inside {} (no `..`, not absolute)",
            base_dir.display()
        );
    }
    if let Some(e) = Engine::from_eval(eval) {
        super::labels::check_install_source(&e.state.borrow().roots, &base_dir, src)
            .map_err(|m| anyhow!("{name}({src:?}, ...): {m}"))?;
    }
    Ok(InstallStepValue {
        step: InstallStep { kind, src: src.to_string(), dest: dest.to_string(), mode: mode as u32, base_dir },
    })
}
