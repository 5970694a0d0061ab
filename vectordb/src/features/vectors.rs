//! Vector features backing a collection: "nearest neighbours as of t".

use unidb_common::id::Id;
use unidb_common::value::Value;

use super::column::{ColumnData, FeatureValue};
use super::error::{FeatureError, FeatureResult};
use super::lookup::{lookup_code, Hit};
use super::schema::FeatureType;
use super::store::FeatureStore;
use crate::{Collection, CollectionConfig};

impl FeatureStore {
    /// A flat collection (metric `metric`) of every entity's value of the
    /// vector feature `feature` of `view` as of `at` (and `known_at`),
    /// by the same [lookup rule](crate::features) as [`FeatureStore::get`]:
    /// entities whose value is missing, expired or null are left out.
    /// Ids are the entity keys: a single non-negative integer key is
    /// [`Id::Num`], any other key [`Id::Str`] (parts joined by `|`).
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`], [`FeatureError::UnknownFeature`],
    /// [`FeatureError::TypeMismatch`] for a feature that is not a vector,
    /// or the collection's error (an unknown metric, a non-finite value).
    pub fn collection_as_of(
        &self,
        view: &str,
        feature: &str,
        at: i64,
        known_at: Option<i64>,
        metric: &str,
    ) -> FeatureResult<Collection> {
        let v = &self.views[self.view_index(view)?];
        let f = v.def.feature_index(feature)?;
        let FeatureType::Vector { dim } = v.def.features[f].ty else {
            return Err(FeatureError::TypeMismatch {
                table: format!("view {:?}", v.def.name),
                column: feature.to_owned(),
                row: None,
                expected: "a vector".into(),
                found: v.def.features[f].ty.to_string(),
            });
        };
        debug_assert!(matches!(v.columns[f].data(), ColumnData::Vector { .. }));
        let entity = &self.entities[v.entity];
        let mut ids = Vec::new();
        let mut values = Vec::new();
        for code in 0..entity.dict.len() as u32 {
            if let Hit::Found(row) = lookup_code(v, code, at, known_at) {
                if let FeatureValue::Vector(x) = v.columns[f].get(row) {
                    let key = entity.dict.key(code);
                    ids.push(match key.as_slice() {
                        [Value::I64(n)] if *n >= 0 => Id::Num(*n as u64),
                        _ => Id::Str(entity.describe(code)),
                    });
                    values.extend_from_slice(x);
                }
            }
        }
        let mut c = Collection::new(CollectionConfig::new(dim as usize, metric))?;
        c.insert_rows(ids, &values)?;
        Ok(c)
    }
}
