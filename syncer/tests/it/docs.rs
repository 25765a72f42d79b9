//! docs/troubleshooting.md lists every failure kind callers can see, with the hint the code
//! gives for it.

use launchdarkly_dynamo_store::mirror::FailureKind;
use syncer::failure::FailureCategory;

#[test]
fn every_failure_kind_is_in_the_troubleshooting_page_with_its_hint() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/troubleshooting.md"
    ))
    .unwrap();
    let store = [
        FailureKind::Loading,
        FailureKind::NeverSynced,
        FailureKind::TableMissing,
        FailureKind::AccessDenied,
        FailureKind::WrongKeySchema,
        FailureKind::Unreachable,
        FailureKind::Throttled,
        FailureKind::Unavailable,
    ];
    let categories = [
        FailureCategory::SdkKeyMissing,
        FailureCategory::SdkKeyRefused,
        FailureCategory::LaunchdarklyUnavailable,
        FailureCategory::Redirected,
        FailureCategory::ResponseTooLarge,
        FailureCategory::InvalidData,
        FailureCategory::DataFileUnreadable,
        FailureCategory::MassDeletionRefused,
        FailureCategory::Busy,
    ]
    .into_iter()
    .chain(store.into_iter().map(FailureCategory::Store));
    for category in categories {
        let name = serde_json::to_value(category).unwrap();
        let name = name.as_str().unwrap();
        let row = page
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no row for {name}"));
        assert!(row.contains(category.hint()), "{name}: {row}");
    }
}
