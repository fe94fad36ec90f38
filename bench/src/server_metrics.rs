//! One read of the server's `/metrics` (front-proxy identity: it needs authorization) and
//! what the bench takes from it: CPU by stage and the scrape-cycle counters.

use super::cpu_breakdown::StageSeconds;
use super::https::{HttpsClient, Identity, timed_get};
use super::scrape_cycles::ScrapeCounters;

/// The server's counters at one moment; either is `None` when the text lacks it.
#[derive(Clone, Debug, Default)]
pub struct MetricsReading {
    pub stages: Option<StageSeconds>,
    pub scrape: Option<ScrapeCounters>,
}

impl MetricsReading {
    pub async fn read(client: &HttpsClient, base_url: &str, identity: &Identity) -> Self {
        let url = format!("{base_url}/metrics");
        let text = match timed_get(client, &url, &identity.headers, true, None).await {
            Ok(got) if got.status == 200 => got.body,
            _ => None,
        };
        let Some(text) = text.as_deref().and_then(|b| std::str::from_utf8(b).ok()) else {
            return MetricsReading::default();
        };
        MetricsReading {
            stages: StageSeconds::parse(text),
            scrape: ScrapeCounters::parse(text),
        }
    }
}
