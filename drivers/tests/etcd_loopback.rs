//! The etcd client against a real etcd (Debian's etcd-server, 3.4 here): one
//! member on loopback on free ports with a temporary data dir
//! (`testkit_etcd::single`, killed and removed on drop, also when a check
//! fails): reads by key and prefix (the 0xff carry included), compare-and-swap
//! transactions, leases kept alive and let expire, watches replaying history
//! and following new writes, and the errors when a member is unreachable or
//! killed. No root needed; without an `etcd` binary the test skips loudly
//! (a failure under OFFLOAD_REQUIRE_KERNEL_TESTS=1, as the fleet tests).

use offload_drivers::etcd::proto::response_op;
use offload_drivers::etcd::{
    Client, Compare, ConnectOptions, EtcdError, EventType, PutRequest, RequestOp, TxnRequest,
    Watcher,
};
use offload_drivers::testenv;
use offload_drivers::testkit_etcd;
use std::process::Command;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn etcd_present(test: &str) -> bool {
    if Command::new("etcd").arg("--version").output().is_ok() {
        return true;
    }
    testenv::announce_skip(test, "no etcd binary (apt-get install etcd-server)");
    assert!(
        std::env::var_os(testenv::REQUIRE_ENV).is_none(),
        "etcd missing under {}=1",
        testenv::REQUIRE_ENV
    );
    false
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(3),
        keep_alive: None,
    }
}

/// The next `n` events of a watch (one answer may carry several), within
/// `within`.
async fn events(w: &mut Watcher, n: usize, within: Duration) -> Vec<(EventType, Vec<u8>, i64)> {
    let mut out = Vec::new();
    tokio::time::timeout(within, async {
        while out.len() < n {
            let r = w.next().await.expect("watch answer");
            for e in r.events {
                let kind = e.kind().expect("known event kind");
                let kv = e.kv.expect("event with a key");
                out.push((kind, kv.key, kv.mod_revision));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} watch events not seen in time: {out:?}"));
    out
}

fn keys(r: &offload_drivers::etcd::proto::RangeResponse) -> Vec<Vec<u8>> {
    r.kvs.iter().map(|kv| kv.key.clone()).collect()
}

#[test]
fn client_against_a_real_member() {
    if !etcd_present("etcd_loopback") {
        return;
    }
    let mut cl = testkit_etcd::single("client").expect("etcd member");
    let ep = cl.clients[0].clone();
    let t0 = Instant::now();
    testkit_etcd::wait_ready(&ep, Duration::from_secs(20)).expect("etcd up");
    eprintln!("etcd up on {ep} in {:.2} s", t0.elapsed().as_secs_f64());
    let dead = format!("http://127.0.0.1:{}", testkit_etcd::free_port().unwrap());
    let rt = runtime();
    rt.block_on(async {
        // The first endpoint that answers; the dead one is passed over.
        let c = Client::connect_any(&[dead.clone(), ep.clone()], &opts())
            .await
            .unwrap();
        assert_eq!(c.endpoint(), ep);
        let st = c.status().await.unwrap();
        assert!(st.version.starts_with("3."), "{st:?}");
        assert_ne!(st.leader, 0, "a single member leads itself: {st:?}");

        // Puts and reads: a prefix covers exactly its keys, in key order.
        let r0 = c.put("/t", "before", 0).await.unwrap();
        let first = r0.header.unwrap().revision;
        c.put("/t/b", "2", 0).await.unwrap();
        c.put("/t/a", "1", 0).await.unwrap();
        c.put(b"/t/\xff".to_vec(), "ff", 0).await.unwrap();
        c.put("/t0", "after", 0).await.unwrap(); // '0' is '/' + 1: the range end
        let r = c.get_prefix("/t/").await.unwrap();
        assert_eq!(
            keys(&r),
            [b"/t/a".to_vec(), b"/t/b".to_vec(), b"/t/\xff".to_vec()]
        );
        assert_eq!(r.kvs[0].value, b"1");
        assert!(r.kvs[0].mod_revision > r.kvs[1].mod_revision);
        let one = c.get("/t/a").await.unwrap();
        assert_eq!(
            (one.kvs.len(), one.kvs[0].key_str(), one.kvs[0].version),
            (1, Some("/t/a"), 1)
        );
        assert!(c.get("/t/none").await.unwrap().kvs.is_empty());
        // The 0xff carry: prefix z\xff ends at "{" (z + 1), not at z\xff\x00.
        c.put(b"z\xff\x01".to_vec(), "in", 0).await.unwrap();
        c.put(b"z\xff\xff\xff".to_vec(), "in", 0).await.unwrap();
        c.put("{", "out", 0).await.unwrap();
        let r = c.get_prefix(b"z\xff").await.unwrap();
        assert_eq!(keys(&r), [b"z\xff\x01".to_vec(), b"z\xff\xff\xff".to_vec()]);
        // The empty prefix is the whole keyspace.
        assert_eq!(c.get_prefix("").await.unwrap().kvs.len(), 8);

        // Compare-and-swap on mod_revision: 0 = "does not exist".
        let cas = |expect: i64, v: &str| TxnRequest {
            compare: vec![Compare::mod_revision_equal("/t/cas", expect)],
            success: vec![RequestOp::put(PutRequest {
                key: b"/t/cas".to_vec(),
                value: v.into(),
                lease: 0,
            })],
            failure: vec![],
        };
        let r = c.txn(cas(0, "v1")).await.unwrap();
        assert!(r.succeeded);
        let rev1 = r.header.as_ref().unwrap().revision;
        assert!(matches!(
            r.responses[0].response,
            Some(response_op::Response::Put(_))
        ));
        let again = c.txn(cas(0, "v1 again")).await.unwrap();
        assert!(!again.succeeded && again.responses.is_empty());
        assert!(!c.txn(cas(rev1 - 1, "stale")).await.unwrap().succeeded);
        assert!(c.txn(cas(rev1, "v2")).await.unwrap().succeeded);
        let now = c.get("/t/cas").await.unwrap();
        assert_eq!(now.kvs[0].value, b"v2");
        assert_eq!(now.kvs[0].version, 2);

        // A watch from an old revision replays history, then follows.
        let mut replay = c.watch_prefix("/t/", first).await.unwrap();
        let got = events(&mut replay, 3, Duration::from_secs(5)).await;
        assert_eq!(got[0], (EventType::Put, b"/t/b".to_vec(), first + 1));
        assert_eq!(got[1], (EventType::Put, b"/t/a".to_vec(), first + 2));
        let mut w = c.watch_prefix("/t/", 0).await.unwrap();
        let put = c.put("/t/new", "n", 0).await.unwrap();
        let rev = put.header.unwrap().revision;
        let got = events(&mut w, 1, Duration::from_secs(5)).await;
        assert_eq!(got, [(EventType::Put, b"/t/new".to_vec(), rev)]);
        c.put("/u/elsewhere", "x", 0).await.unwrap(); // outside the prefix

        // Leases: one kept alive, one left to expire (its key is deleted).
        let kept = c.lease_grant(2).await.unwrap();
        let short = c.lease_grant(2).await.unwrap();
        assert!(kept.ttl >= 2 && kept.id != 0, "{kept:?}");
        let mut keeper = c.lease_keep_alive(kept.id).await.unwrap();
        assert_eq!(keeper.id(), kept.id);
        assert!(keeper.ttl() >= 2);
        c.put("/t/kept", "k", kept.id).await.unwrap();
        c.put("/t/short", "s", short.id).await.unwrap();
        let got = events(&mut w, 2, Duration::from_secs(5)).await;
        assert_eq!(
            (&got[0].1[..], &got[1].1[..]),
            (&b"/t/kept"[..], &b"/t/short"[..])
        );
        let t = Instant::now();
        let deleted = loop {
            assert!(keeper.keep_alive().await.unwrap() >= 2);
            if let Ok(got) = tokio::time::timeout(Duration::from_millis(500), w.next()).await {
                let r = got.unwrap();
                if let Some(e) = r.events.first() {
                    break (e.kind(), e.kv.as_ref().unwrap().key.clone());
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "lease of /t/short never expired"
            );
        };
        assert_eq!(deleted, (Ok(EventType::Delete), b"/t/short".to_vec()));
        eprintln!(
            "a 2 s lease expired (delete event) {:.1} s after its last use",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(c.get("/t/kept").await.unwrap().kvs[0].lease, kept.id);
        match c.lease_keep_alive(short.id).await {
            Err(EtcdError::LeaseGone { endpoint, id }) => {
                assert_eq!((endpoint.as_str(), id), (ep.as_str(), short.id))
            }
            other => panic!("keep-alive of an expired lease: {other:?}"),
        }
        let e = c.put("/t/x", "x", short.id).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{ep}: Put failed: NotFound: "))
                && msg.contains("lease not found"),
            "{msg}"
        );
    });

    // The member killed: the open watch ends with an error, and a new call
    // fails naming the endpoint.
    let c = rt.block_on(async { Client::connect(&ep, &opts()).await.unwrap() });
    let mut watch = rt.block_on(async { c.watch_prefix("/t/", 0).await.unwrap() });
    cl.members[0] = None;
    rt.block_on(async {
        let e = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("the watch noticed the kill")
            .unwrap_err();
        assert!(e.to_string().starts_with(&format!("{ep}: Watch")), "{e}");
        let e = c.get("/t/a").await.unwrap_err();
        assert!(e.to_string().starts_with(&format!("{ep}: Range")), "{e}");
        eprintln!("after the kill: {e}");
    });
}

#[test]
fn unreachable_endpoints_are_named() {
    // Nothing listens: refused. A listener that never answers: a timeout.
    let refused = format!("http://127.0.0.1:{}", testkit_etcd::free_port().unwrap());
    let silent_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}", silent_l.local_addr().unwrap());
    let opts = ConnectOptions {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        keep_alive: None,
    };
    let rt = runtime();
    rt.block_on(async {
        let e = Client::connect(&refused, &opts).await.unwrap_err();
        let msg = e.to_string();
        eprintln!("{msg}");
        assert!(
            msg.starts_with(&format!("{refused}: cannot connect: ")) && msg.contains("refused"),
            "{msg}"
        );
        let t = Instant::now();
        let e = Client::connect(&silent, &opts).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let msg = e.to_string();
        assert!(
            msg == format!("{silent}: Status got no answer within 300ms")
                || msg == format!("{silent}: cannot connect: no connection within 300ms"),
            "{msg}"
        );
        let e = Client::connect_any(&[refused.clone(), silent.clone()], &opts)
            .await
            .unwrap_err();
        let msg = e.to_string();
        let (a, b) = (msg.find(&refused), msg.find(&silent));
        assert!(
            msg.starts_with("no etcd endpoint answered: ") && a < b && a.is_some(),
            "{msg}"
        );
        let none: [&str; 0] = [];
        assert!(matches!(
            Client::connect_any(&none, &opts).await,
            Err(EtcdError::NoEndpoint)
        ));
        let e = Client::connect("https://127.0.0.1:2379", &opts)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("TLS is not supported"), "{e}");
    });
}
