//! The metadata database on a real SQLite file: versions, conflicts under concurrency, reopening.

use protocol::dashboard::{Dashboard, TimeSpec};

use super::{Error, Meta};

fn dashboard(uid: &str, title: &str) -> Dashboard {
    Dashboard {
        uid: uid.into(),
        title: title.into(),
        description: String::new(),
        tags: vec!["web".into()],
        time: TimeSpec::default(),
        variables: vec![],
        panels: vec![],
        annotations: vec![],
        version: 0,
    }
}

#[tokio::test]
async fn every_save_is_a_version_and_a_stale_one_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(dir.path()).unwrap();
    assert_eq!(
        meta.create_dashboard(dashboard("web", "Web"))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        meta.create_dashboard(dashboard("web", "Again")).await,
        Err(Error::Exists { .. })
    ));

    let mut d = meta.dashboard("web").await.unwrap().dashboard;
    assert_eq!(d.version, 1);
    d.title = "Web services".into();
    assert_eq!(
        meta.update_dashboard(d.clone(), "".into()).await.unwrap(),
        2
    );
    // Saving again from version 1 is stale: nothing is overwritten.
    d.title = "Lost".into();
    match meta.update_dashboard(d, "".into()).await {
        Err(Error::Conflict {
            expected: 1,
            current: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let now = meta.dashboard("web").await.unwrap().dashboard;
    assert_eq!((now.title.as_str(), now.version), ("Web services", 2));

    let versions = meta.dashboard_versions("web").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(meta.dashboard_version("web", 1).await.unwrap().title, "Web");
    assert!(matches!(
        meta.dashboard_version("web", 9).await,
        Err(Error::NotFound { .. })
    ));

    meta.delete_dashboard("web").await.unwrap();
    assert!(matches!(
        meta.dashboard("web").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        meta.delete_dashboard("web").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_saves_of_one_version_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    // Two handles on one file, as a server and `weir dashboards import` would be.
    let a = Meta::open(dir.path()).unwrap();
    let b = Meta::open(dir.path()).unwrap();
    a.create_dashboard(dashboard("web", "Web")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut d = dashboard("web", &format!("writer {i}"));
            d.version = 1;
            meta.update_dashboard(d, String::new()).await
        }));
    }
    let mut won = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(version) => won.push(version),
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, [2]);
    assert_eq!(a.dashboard_versions("web").await.unwrap().len(), 2);
}

#[tokio::test]
async fn what_was_saved_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let meta = Meta::open(dir.path()).unwrap();
        meta.create_dashboard(dashboard("b", "Beta")).await.unwrap();
        meta.create_dashboard(dashboard("a", "alpha"))
            .await
            .unwrap();
    }
    let meta = Meta::open(dir.path()).unwrap();
    let list = meta.dashboards().await.unwrap();
    assert_eq!(
        list.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(list[0].tags, ["web"]);
}
