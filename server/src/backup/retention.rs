//! Which backups to keep: the newest of each of the last `daily` days that have one, and the
//! newest of each of the last `weekly` ISO weeks that have one. The newest backup is always
//! kept.

use std::collections::HashSet;

use super::Listed;

/// How many days and weeks of backups to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub daily: usize,
    pub weekly: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
        }
    }
}

/// The backups of `listed` (newest first) that `retention` does not keep.
pub fn expired(listed: &[Listed], retention: Retention) -> Vec<Listed> {
    let mut days = HashSet::new();
    let mut weeks = HashSet::new();
    let mut drop = Vec::new();
    for (index, backup) in listed.iter().enumerate() {
        let at = backup.created_at;
        let day = at.date();
        let (year, week, _) = at.date().to_iso_week_date();
        let mut keep = index == 0;
        if !days.contains(&day) && days.len() < retention.daily {
            days.insert(day);
            keep = true;
        }
        if !weeks.contains(&(year, week)) && weeks.len() < retention.weekly {
            weeks.insert((year, week));
            keep = true;
        }
        // A later backup of a day or week already kept is not needed for it.
        days.insert(day);
        weeks.insert((year, week));
        if !keep {
            drop.push(backup.clone());
        }
    }
    drop
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use time::macros::datetime;

    use super::*;

    fn at(list: &[time::OffsetDateTime]) -> Vec<Listed> {
        let mut listed: Vec<Listed> = list
            .iter()
            .map(|t| Listed {
                path: PathBuf::from(t.to_string()),
                created_at: *t,
                bytes: 1,
            })
            .collect();
        listed.sort_by_key(|l| std::cmp::Reverse(l.created_at));
        listed
    }

    #[test]
    fn keeps_the_newest_per_day_for_7_days_and_per_week_for_4_weeks() {
        // Two backups a day for 60 days, at 03:00 and 15:00 UTC.
        let start = datetime!(2026-10-01 03:00 UTC);
        let times: Vec<_> = (0..120)
            .map(|i| start + time::Duration::hours(12 * i))
            .collect();
        let listed = at(&times);
        let dropped = expired(&listed, Retention::default());
        let kept: Vec<_> = listed
            .iter()
            .filter(|l| !dropped.contains(l))
            .map(|l| l.created_at)
            .collect();
        // The newest: 2026-11-29 15:00. Days 23-29 November (7, the 15:00 of each), and the
        // newest of the 4 ISO weeks: 48 (23-29 Nov, already kept), 47, 46, 45.
        assert_eq!(kept[0], datetime!(2026-11-29 15:00 UTC));
        assert_eq!(kept.len(), 7 + 3, "{kept:?}");
        assert!(
            kept.contains(&datetime!(2026-11-22 15:00 UTC)),
            "week 47's newest"
        );
        assert!(
            kept.contains(&datetime!(2026-11-15 15:00 UTC)),
            "week 46's newest"
        );
        assert!(
            kept.contains(&datetime!(2026-11-08 15:00 UTC)),
            "week 45's newest"
        );
        assert_eq!(dropped.len(), 120 - kept.len());
    }

    #[test]
    fn nothing_is_dropped_when_there_is_little_and_the_newest_always_stays() {
        let listed = at(&[
            datetime!(2026-12-01 01:00 UTC),
            datetime!(2026-12-01 02:00 UTC),
        ]);
        let dropped = expired(&listed, Retention::default());
        assert_eq!(dropped.len(), 1, "the older of the same day goes");
        assert_eq!(dropped[0].created_at, datetime!(2026-12-01 01:00 UTC));
        let none = Retention {
            daily: 0,
            weekly: 0,
        };
        let dropped = expired(&listed, none);
        assert_eq!(dropped.len(), 1, "the newest stays whatever the rules");
    }
}
