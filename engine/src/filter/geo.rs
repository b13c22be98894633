//! Geo conditions: `geo_radius` (haversine distance in meters),
//! `geo_bounding_box` (which may cross the antimeridian) and `geo_polygon`
//! (inside the exterior ring and outside every interior one). A payload
//! location is `{"lon": .., "lat": ..}`, or a list of them.

use serde::Deserialize;
use serde_json::Value;

use super::FilterError;

use tessera_types::geo::GeoPoint;

/// Checks a point a filter names.
trait Checked: Sized {
    fn checked(self) -> Result<Self, FilterError>;
}

impl Checked for GeoPoint {
    fn checked(self) -> Result<Self, FilterError> {
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lon) {
            return Err(FilterError::Invalid(format!(
                "geo point lon {} lat {} is out of range: lon must be within [-180, 180], lat within [-90, 90]",
                self.lon, self.lat
            )));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Radius {
    center: GeoPoint,
    radius: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct BoundingBox {
    top_left: GeoPoint,
    bottom_right: GeoPoint,
}

#[derive(Debug, Clone, Deserialize)]
struct LineString {
    points: Vec<GeoPoint>,
}

#[derive(Debug, Clone, Deserialize)]
struct Polygon {
    exterior: LineString,
    #[serde(default)]
    interiors: Option<Vec<LineString>>,
}

/// A compiled geo condition.
#[derive(Debug, Clone)]
pub enum GeoCheck {
    Radius {
        center: GeoPoint,
        meters: f64,
    },
    Box {
        top_left: GeoPoint,
        bottom_right: GeoPoint,
    },
    Polygon {
        exterior: Vec<GeoPoint>,
        interiors: Vec<Vec<GeoPoint>>,
    },
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, value: &Value) -> Result<T, FilterError> {
    serde_json::from_value(value.clone()).map_err(|e| FilterError::Invalid(format!("{what}: {e}")))
}

fn ring(line: LineString, what: &str) -> Result<Vec<GeoPoint>, FilterError> {
    let points = line
        .points
        .into_iter()
        .map(GeoPoint::checked)
        .collect::<Result<Vec<_>, _>>()?;
    if points.len() < 4 || points.first() != points.last() {
        return Err(FilterError::Invalid(format!(
            "{what} of a geo_polygon must be closed (first point equal to the last) and have at least 4 points"
        )));
    }
    Ok(points)
}

impl GeoCheck {
    pub fn radius(value: &Value) -> Result<Self, FilterError> {
        let r: Radius = parse("geo_radius", value)?;
        if r.radius.is_nan() || r.radius < 0.0 {
            return Err(FilterError::Invalid(
                "geo_radius.radius must be 0 or more".into(),
            ));
        }
        Ok(GeoCheck::Radius {
            center: r.center.checked()?,
            meters: r.radius,
        })
    }

    pub fn bounding_box(value: &Value) -> Result<Self, FilterError> {
        let b: BoundingBox = parse("geo_bounding_box", value)?;
        Ok(GeoCheck::Box {
            top_left: b.top_left.checked()?,
            bottom_right: b.bottom_right.checked()?,
        })
    }

    pub fn polygon(value: &Value) -> Result<Self, FilterError> {
        let p: Polygon = parse("geo_polygon", value)?;
        Ok(GeoCheck::Polygon {
            exterior: ring(p.exterior, "the exterior")?,
            interiors: p
                .interiors
                .unwrap_or_default()
                .into_iter()
                .map(|l| ring(l, "an interior"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether any location among the field's `values` satisfies the condition.
    pub fn check(&self, values: &[&Value]) -> bool {
        values
            .iter()
            .filter_map(|v| GeoPoint::from_payload(v))
            .any(|p| self.contains(p))
    }

    fn contains(&self, p: GeoPoint) -> bool {
        match self {
            GeoCheck::Radius { center, meters } => center.distance_m(p) <= *meters,
            GeoCheck::Box {
                top_left,
                bottom_right,
            } => {
                let lat_ok = p.lat <= top_left.lat && p.lat >= bottom_right.lat;
                let lon_ok = if top_left.lon <= bottom_right.lon {
                    p.lon >= top_left.lon && p.lon <= bottom_right.lon
                } else {
                    // Crosses the antimeridian.
                    p.lon >= top_left.lon || p.lon <= bottom_right.lon
                };
                lat_ok && lon_ok
            }
            GeoCheck::Polygon {
                exterior,
                interiors,
            } => inside(exterior, p) && !interiors.iter().any(|ring| inside(ring, p)),
        }
    }
}

/// Ray casting in the lon/lat plane.
fn inside(ring: &[GeoPoint], p: GeoPoint) -> bool {
    let mut inside = false;
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        if (a.lat > p.lat) != (b.lat > p.lat)
            && p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon
        {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn distances_boxes_and_polygons() {
        // Berlin to Paris: about 878 km.
        let berlin = GeoPoint {
            lon: 13.405,
            lat: 52.52,
        };
        let paris = GeoPoint {
            lon: 2.3522,
            lat: 48.8566,
        };
        let d = berlin.distance_m(paris);
        assert!((d - 878_000.0).abs() < 5_000.0, "{d}");

        let pacific = GeoCheck::bounding_box(&json!({
            "top_left": {"lon": 170.0, "lat": 10.0}, "bottom_right": {"lon": -170.0, "lat": -10.0}
        }))
        .unwrap();
        assert!(pacific.check(&[&json!({"lon": 179.0, "lat": 0.0})]));
        assert!(pacific.check(&[&json!({"lon": -175.0, "lat": 5.0})]));
        assert!(!pacific.check(&[&json!({"lon": 0.0, "lat": 0.0})]));

        let square = |x: f64, y: f64, side: f64| {
            json!({"points": [
                {"lon": x, "lat": y}, {"lon": x + side, "lat": y}, {"lon": x + side, "lat": y + side},
                {"lon": x, "lat": y + side}, {"lon": x, "lat": y}
            ]})
        };
        let ring = GeoCheck::polygon(&json!({
            "exterior": square(0.0, 0.0, 10.0), "interiors": [square(4.0, 4.0, 2.0)]
        }))
        .unwrap();
        assert!(ring.check(&[&json!({"lon": 1.0, "lat": 1.0})]));
        assert!(!ring.check(&[&json!({"lon": 5.0, "lat": 5.0})]));
        assert!(!ring.check(&[&json!({"lon": 11.0, "lat": 5.0})]));
        assert!(ring.check(&[
            &json!([{"lon": 50.0, "lat": 5.0}, {"lon": 2.0, "lat": 8.0}])
                .as_array()
                .unwrap()[1]
        ]));

        assert!(
            GeoCheck::radius(&json!({"center": {"lon": 200.0, "lat": 0.0}, "radius": 1.0}))
                .is_err()
        );
        assert!(
            GeoCheck::polygon(&json!({"exterior": {"points": [{"lon": 0, "lat": 0}]}})).is_err()
        );
    }
}
