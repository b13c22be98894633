//! Points on the Earth and the distance between them.

use serde::{Deserialize, Serialize};

/// The mean Earth radius, in meters.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

impl GeoPoint {
    /// Great-circle distance in meters (haversine).
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_lat = lat2 - lat1;
        let d_lon = (other.lon - self.lon).to_radians();
        let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().asin()
    }

    /// The point a payload value holds, if it is one.
    pub fn from_payload(value: &serde_json::Value) -> Option<GeoPoint> {
        Some(GeoPoint {
            lon: value.get("lon")?.as_f64()?,
            lat: value.get("lat")?.as_f64()?,
        })
    }
}
