//! Property: for any DAG of units written as a project, `graph` order puts every dep first.
use proptest::prelude::*;

use crate::support::Fixture;

fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..25).prop_flat_map(|n| {
        // Unit i may only depend on units < i, so the graph is acyclic by construction.
        (0..n).map(|i| proptest::collection::vec(0..i.max(1), 0..=i.min(4))).collect::<Vec<_>>().prop_map(
            move |mut v| {
                v[0].clear();
                v
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn order_puts_every_dep_first(deps in dag(), shuffle in any::<u64>()) {
        let n = deps.len();
        // Scatter units over files in an order unrelated to the dependency order.
        let mut text = vec![String::new(); 3];
        for i in 0..n {
            let d: Vec<String> = deps[i].iter().map(|j| format!("\"u{j}\"")).collect();
            let runtime = if i % 3 == 0 && !deps[i].is_empty() { format!(", runtime_deps = [\"u{}\"]", deps[i][0]) } else { String::new() };
            text[((i as u64).wrapping_mul(shuffle | 1) % 3) as usize]
                .push_str(&format!("unit(name = \"u{i}\", deps = [{}]{runtime})\n", d.join(", ")));
        }
        let f = Fixture::new(&[
            ("PROJECT.star", "project(name = \"p\", version = \"1\")\n"),
            ("units/a.star", &text[0]), ("units/b/b.star", &text[1]), ("units/c.star", &text[2]),
        ]);
        let p = f.load_ok().project;
        let g = yoe::graph::Graph::build(&p).unwrap();
        let order = g.order().unwrap();
        prop_assert_eq!(order.len(), n);
        let pos = |name: &str| order.iter().position(|x| x == name).unwrap();
        for (i, ds) in deps.iter().enumerate() {
            for j in ds {
                prop_assert!(pos(&format!("u{j}")) < pos(&format!("u{i}")), "u{} before u{}", j, i);
            }
        }
        // Deterministic: a second build of the graph gives the same order.
        prop_assert_eq!(yoe::graph::Graph::build(&p).unwrap().order().unwrap(), order);
    }
}
