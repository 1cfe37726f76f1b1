//! Shared by the benches: the field report's scenario grown by `n` VMs in its
//! default group, spread over 50 compute hosts.

use check::Scenario;

pub fn with_extra_ports(n: usize) -> Scenario {
    let mut sc = Scenario::builtin().expect("built-in scenario");
    let template = sc.cloud.port("client-1").expect("client-1").clone();
    for i in 0..n {
        let mut p = template.clone();
        p.id = format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
        p.name = format!("vm-{i}");
        p.mac_address = format!(
            "fa:16:3f:{:02x}:{:02x}:{:02x}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        );
        p.fixed_ips[0].ip_address =
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
                .parse()
                .expect("address");
        p.host_id = format!("compute-{}", 3 + i % 50);
        sc.cloud.ports.push(p);
    }
    sc
}
