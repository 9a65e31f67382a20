//! Totals for `/metrics` — subscribers by status, deliveries by state, bounces by kind — read
//! from counters that the schema's triggers keep (migration 7), so that a scrape reads a few
//! dozen rows however large the list (and a row per pruned issue and state).

use std::collections::BTreeMap;

use super::db::params;
use super::{BounceKind, DeliveryState, Result, Status, Store};

/// Every counter, summed over its shards; a count of 0 is left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    pub subscribers: BTreeMap<Status, u64>,
    pub deliveries: BTreeMap<DeliveryState, u64>,
    pub bounces: BTreeMap<BounceKind, u64>,
}

impl Store {
    /// The totals, from the counters (no table is counted).
    pub fn totals(&self) -> Result<Totals> {
        let rows = self.db.query_all(
            "SELECT name, CAST(SUM(value) AS BIGINT) FROM counters GROUP BY name",
            params![],
            |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)),
        )?;
        let mut totals = Totals::default();
        for (name, value) in rows {
            let value = value.max(0) as u64;
            match name.split_once(':') {
                Some(("subscribers", status)) => {
                    if let Ok(status) = status.parse::<Status>() {
                        totals.subscribers.insert(status, value);
                    }
                }
                Some(("deliveries", state)) => {
                    totals.deliveries.insert(DeliveryState::parse(state), value);
                }
                Some(("bounces", kind)) => {
                    totals.bounces.insert(BounceKind::parse(kind), value);
                }
                _ => {}
            }
        }
        // Deliveries of pruned issues are counted too (a row per issue and state, not per
        // subscriber: `prune.rs`).
        let pruned = self.db.query_all(
            "SELECT state, CAST(SUM(count) AS BIGINT) FROM pruned_counts GROUP BY state",
            params![],
            |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)),
        )?;
        for (state, n) in pruned {
            *totals.deliveries.entry(DeliveryState::parse(&state)).or_default() += n.max(0) as u64;
        }
        totals.subscribers.retain(|_, n| *n > 0);
        totals.deliveries.retain(|_, n| *n > 0);
        totals.bounces.retain(|_, n| *n > 0);
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;

    /// The same totals, counted from the tables.
    fn counted(store: &Store) -> Totals {
        let mut totals = Totals::default();
        for (status, n) in store.count_by_status().unwrap() {
            if n > 0 {
                totals.subscribers.insert(status, n);
            }
        }
        totals.deliveries = store.delivery_counts(None).unwrap();
        totals.bounces = store.bounce_counts(None).unwrap();
        totals
    }

    fn without_zeros(mut totals: Totals) -> Totals {
        totals.subscribers.retain(|_, n| *n > 0);
        totals.deliveries.retain(|_, n| *n > 0);
        totals.bounces.retain(|_, n| *n > 0);
        totals
    }

    #[test]
    fn the_counters_follow_every_insert_change_and_delete() {
        on_each_backend(|mut store| {
            let now: chrono::DateTime<chrono::Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let mut ids = Vec::new();
            for i in 0..40 {
                let status = if i % 3 == 0 { Status::Pending } else { Status::Active };
                ids.push(store.add_subscriber(&format!("r{i}@example.org"), None, status, now).unwrap().id);
            }
            assert_eq!(without_zeros(store.totals().unwrap()), counted(&store));
            let issue = store.create_issue("Nowe", &[], "", now).unwrap();
            for &id in &ids[..10] {
                store.set_status(id, Status::Unsubscribed, now).unwrap();
            }
            let deliveries = store.deliveries_left(issue.id, now).unwrap();
            assert!(deliveries > 0);
            store.db.execute("UPDATE deliveries SET state = 'sent' WHERE subscriber_id % 2 = 0", params![]).unwrap();
            store.db.execute("UPDATE deliveries SET state = 'sent' WHERE subscriber_id % 2 = 0", params![]).unwrap();
            store.db.execute("DELETE FROM deliveries WHERE subscriber_id % 5 = 0", params![]).unwrap();
            let totals = without_zeros(store.totals().unwrap());
            assert_eq!(totals, counted(&store));
            assert!(totals.deliveries[&DeliveryState::Sent] > 0 && totals.subscribers[&Status::Unsubscribed] == 10);
        });
    }
}
