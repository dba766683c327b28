//! Reading the catalog: pages of a view in an order, with an optional search.

use rusqlite::{OptionalExtension, params};

use super::row::{COLUMNS, from_row};
use super::{Catalog, CatalogError, Sort, View};
use crate::api::Image;

/// What [`Catalog::images`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub view: View,
    pub sort: Sort,
    /// Case-insensitive substring of the filename or of a tag ("" matches all).
    pub search: String,
    /// Rows skipped.
    pub offset: usize,
    /// Rows returned at most (`usize::MAX`: all).
    pub limit: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            view: View::Library,
            sort: Sort::Date,
            search: String::new(),
            offset: 0,
            limit: usize::MAX,
        }
    }
}

/// Images in each view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub library: usize,
    pub trash: usize,
}

impl Counts {
    pub fn get(&self, view: View) -> usize {
        match view {
            View::Library => self.library,
            View::Trash => self.trash,
        }
    }
}

impl Catalog {
    /// One page of a view, in order (the order's index makes the first page cheap even with
    /// 100,000 images).
    pub fn images(&self, query: &Query) -> Result<Vec<Image>, CatalogError> {
        let order = match query.sort {
            Sort::Date => "date DESC, id",
            Sort::Name => "name_key, id",
            Sort::Size => "size DESC, id",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM images WHERE trashed = ?1 AND (?2 = '' OR instr(search_key, ?2) > 0)
             ORDER BY trashed, {order} LIMIT ?3 OFFSET ?4"
        );
        let conn = self.lock();
        let mut statement = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(
                params![
                    query.view == View::Trash,
                    query.search.to_lowercase(),
                    i64::try_from(query.limit).unwrap_or(-1),
                    i64::try_from(query.offset).unwrap_or(i64::MAX),
                ],
                from_row,
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every image of both views in no particular order: one pass over the table, for a
    /// client that keeps the whole catalog in memory (faster than [`Catalog::images`] in order).
    pub fn all(&self) -> Result<Vec<Image>, CatalogError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM images"))
            .map_err(|e| self.err(e))?;
        let rows = statement.query_map([], from_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// How many images of `view` match `search` ("" counts all).
    pub fn count(&self, view: View, search: &str) -> Result<usize, CatalogError> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM images WHERE trashed = ?1 AND (?2 = '' OR instr(search_key, ?2) > 0)",
                params![view == View::Trash, search.to_lowercase()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| self.err(e))
    }

    /// Images in the library and in the trash.
    pub fn counts(&self) -> Result<Counts, CatalogError> {
        Ok(Counts {
            library: self.count(View::Library, "")?,
            trash: self.count(View::Trash, "")?,
        })
    }

    /// One image by id, in either view.
    pub fn get(&self, id: &str) -> Result<Option<Image>, CatalogError> {
        self.lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every image id in either view (to tell a client what to drop when it switches catalogs).
    pub fn ids(&self) -> Result<Vec<String>, CatalogError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached("SELECT id FROM images")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
