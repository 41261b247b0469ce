//! One value per classifier view: `ByView<T>` holds a DV and an LV value by name, so a pair of
//! films, transforms, CAMs or flags cannot be read in the wrong order the way a `[T; 2]` can.

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::View;

/// A value for each of the classifier's two views, DV and LV.
///
/// Serialised as a two-element array `[dv, lv]`, the layout of the `[T; 2]` it replaced, so
/// stored results written before it still load. Indexing by a view other than DV or LV panics
/// (a programming error: only model views have a slot); [`ByView::get`] is the checked form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ByView<T> {
    /// The dorsoventral view's value (IMPC_XRY_034_001).
    pub dv: T,
    /// The lateral view's value (IMPC_XRY_048_001).
    pub lv: T,
}

impl<T> ByView<T> {
    /// Both values.
    pub const fn new(dv: T, lv: T) -> ByView<T> {
        ByView { dv, lv }
    }

    /// The value `f` gives for each view.
    pub fn from_fn(mut f: impl FnMut(View) -> T) -> ByView<T> {
        ByView { dv: f(View::Dv), lv: f(View::Lv) }
    }

    /// The view's value, `None` for a view the classifier does not use.
    pub fn get(&self, view: View) -> Option<&T> {
        match view {
            View::Dv => Some(&self.dv),
            View::Lv => Some(&self.lv),
            _ => None,
        }
    }

    /// Each value through `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> ByView<U> {
        ByView { dv: f(self.dv), lv: f(self.lv) }
    }

    /// Each value and its view through `f`.
    pub fn map_view<U>(self, mut f: impl FnMut(View, T) -> U) -> ByView<U> {
        ByView { dv: f(View::Dv, self.dv), lv: f(View::Lv, self.lv) }
    }

    /// References to both values.
    pub fn as_ref(&self) -> ByView<&T> {
        ByView { dv: &self.dv, lv: &self.lv }
    }

    /// Mutable references to both values.
    pub fn as_mut(&mut self) -> ByView<&mut T> {
        ByView { dv: &mut self.dv, lv: &mut self.lv }
    }

    /// The two pairs side by side.
    pub fn zip<U>(self, other: ByView<U>) -> ByView<(T, U)> {
        ByView { dv: (self.dv, other.dv), lv: (self.lv, other.lv) }
    }

    /// (view, value), DV first.
    pub fn iter(&self) -> impl Iterator<Item = (View, &T)> {
        [(View::Dv, &self.dv), (View::Lv, &self.lv)].into_iter()
    }

    /// The values, DV first.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        [&self.dv, &self.lv].into_iter()
    }

    /// The values in model order, DV first (the order of the model's inputs).
    pub fn into_array(self) -> [T; 2] {
        [self.dv, self.lv]
    }

    /// From values in model order, DV first.
    pub fn from_array([dv, lv]: [T; 2]) -> ByView<T> {
        ByView { dv, lv }
    }
}

impl<T> IntoIterator for ByView<T> {
    type Item = (View, T);
    type IntoIter = std::array::IntoIter<(View, T), 2>;

    fn into_iter(self) -> Self::IntoIter {
        [(View::Dv, self.dv), (View::Lv, self.lv)].into_iter()
    }
}

impl ByView<bool> {
    /// Both views set.
    pub fn both(&self) -> bool {
        self.dv && self.lv
    }

    /// Either view set.
    pub fn any(&self) -> bool {
        self.dv || self.lv
    }

    /// The views set: `DV+LV`, `DV`, `LV` or `none` (the `views_used` column).
    pub fn label(&self) -> &'static str {
        match (self.dv, self.lv) {
            (true, true) => "DV+LV",
            (true, false) => "DV",
            (false, true) => "LV",
            (false, false) => "none",
        }
    }
}

impl<T> Index<View> for ByView<T> {
    type Output = T;

    fn index(&self, view: View) -> &T {
        match view {
            View::Dv => &self.dv,
            View::Lv => &self.lv,
            other => panic!("{other:?} is not a classifier view"),
        }
    }
}

impl<T> IndexMut<View> for ByView<T> {
    fn index_mut(&mut self, view: View) -> &mut T {
        match view {
            View::Dv => &mut self.dv,
            View::Lv => &mut self.lv,
            other => panic!("{other:?} is not a classifier view"),
        }
    }
}

impl<T: Serialize> Serialize for ByView<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.dv, &self.lv).serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByView<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (dv, lv) = <(T, T)>::deserialize(deserializer)?;
        Ok(ByView { dv, lv })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_named_by_view_and_stored_as_the_array_they_replaced() {
        let mut v = ByView::new(1, 2);
        v[View::Lv] += 10;
        assert_eq!((v[View::Dv], v.lv), (1, 12));
        assert_eq!(v.get(View::SkullDv), None);
        assert_eq!(v.map(|x| x * 2).into_array(), [2, 24]);
        assert_eq!(v.iter().map(|(view, _)| view).collect::<Vec<_>>(), View::MODEL);
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1,12]");
        let old: ByView<Option<u8>> = serde_json::from_str("[null,3]").unwrap();
        assert_eq!(old, ByView::new(None, Some(3)));
        assert_eq!(ByView::new(true, false).label(), "DV");
        assert_eq!(ByView::new(false, false).label(), "none");
        assert_eq!(ByView::new(true, true).label(), "DV+LV");
    }
}
