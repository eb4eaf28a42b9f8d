//! `unpinned-container-image`: `container="golang:1.26"`, an external image by tag.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;
use crate::model::unit::is_external_image;

rule!(
    "unpinned-container-image",
    Steps,
    High,
    High,
    Regular,
    Static,
    "an external container image is named by tag, without @sha256:"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            let images = std::iter::once((None, f.container.as_str()))
                .chain(f.task_containers.iter().map(|(t, c)| (Some(t.as_str()), c.as_str())));
            for (task, image) in images {
                if !is_external_image(image) || image.contains("@sha256:") {
                    continue;
                }
                let route = match task {
                    None => format!("{}.container", u.route()),
                    Some(t) => format!("{}.tasks[{t}].container", u.route()),
                };
                let mut finding = cx.finding(
                    &META,
                    u.field_span(&cx.inputs, "container", "external image by tag"),
                    route,
                    format!(
                        "unit {:?} builds in the external image {image:?}, named by a tag the registry can move; yoe runs no container engine and refuses it",
                        u.name
                    ),
                    "declare the toolchain as a unit (its output is the steps' root filesystem) and name that unit in container=",
                );
                finding.secondary.extend(u.frames.iter().cloned());
                out.push(finding);
            }
        }
    }
}
