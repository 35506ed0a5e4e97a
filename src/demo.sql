-- The sample database of `pgdoor demo`: a small shop with customers,
-- products, orders and 100,000 page views, an HR schema, and a reporting
-- schema with views, a materialized view and functions.

CREATE SCHEMA shop;
CREATE SCHEMA hr;
CREATE SCHEMA reporting;
COMMENT ON SCHEMA shop IS 'The online shop';

CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'refunded');

CREATE TABLE shop.customers (
    id          serial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text NOT NULL,
    country     char(2) NOT NULL,
    signed_up   timestamptz NOT NULL,
    newsletter  boolean NOT NULL DEFAULT false,
    preferences jsonb,
    last_ip     inet
);
COMMENT ON TABLE shop.customers IS 'People who bought something';
COMMENT ON COLUMN shop.customers.preferences IS 'Settings chosen in the account page';

CREATE TABLE shop.products (
    id          serial PRIMARY KEY,
    sku         uuid NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    weight_kg   real,
    in_stock    integer NOT NULL DEFAULT 0,
    description text,
    thumbnail   bytea
);

CREATE TABLE shop.orders (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES shop.customers (id),
    status      shop.order_status NOT NULL DEFAULT 'pending',
    placed_at   timestamptz NOT NULL,
    shipped_on  date,
    delivery    interval,
    note        text
);
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE INDEX orders_placed ON shop.orders (placed_at DESC);

CREATE TABLE shop.order_items (
    order_id   integer NOT NULL REFERENCES shop.orders (id) ON DELETE CASCADE,
    product_id integer NOT NULL REFERENCES shop.products (id),
    quantity   smallint NOT NULL CHECK (quantity > 0),
    unit_price numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE shop.page_views (
    id          bigserial PRIMARY KEY,
    customer_id integer REFERENCES shop.customers (id),
    path        text NOT NULL,
    viewed_at   timestamptz NOT NULL,
    duration_ms integer,
    user_agent  text
);
CREATE INDEX page_views_viewed ON shop.page_views (viewed_at);

CREATE TABLE hr.departments (
    id   serial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE hr.employees (
    id            serial PRIMARY KEY,
    department_id integer NOT NULL REFERENCES hr.departments (id),
    manager_id    integer REFERENCES hr.employees (id),
    name          text NOT NULL,
    title         text NOT NULL,
    hired_on      date NOT NULL,
    salary        numeric(12, 2) NOT NULL,
    works_from    time,
    remote        boolean NOT NULL DEFAULT false
);

INSERT INTO shop.customers (email, full_name, country, signed_up, newsletter, preferences, last_ip)
SELECT 'customer' || g || '@example.com',
       (ARRAY['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Radia'])[1 + g % 10]
           || ' ' || (ARRAY['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Dijkstra', 'Allen', 'Knuth', 'Perlman'])[1 + (g / 10) % 10],
       (ARRAY['DE', 'FR', 'US', 'JP', 'BR', 'IN', 'NL', 'SE'])[1 + g % 8],
       timestamptz '2023-01-01 09:00+00' + g * interval '7 hours 13 minutes',
       g % 3 = 0,
       CASE WHEN g % 4 = 0 THEN NULL
            ELSE jsonb_build_object('theme', (ARRAY['light', 'dark'])[1 + g % 2], 'currency', (ARRAY['EUR', 'USD', 'JPY'])[1 + g % 3], 'alerts', g % 5 = 0) END,
       CASE WHEN g % 6 = 0 THEN NULL ELSE ('10.' || g % 250 || '.' || g % 200 || '.' || 1 + g % 250)::inet END
FROM generate_series(1, 400) g;
UPDATE shop.customers SET full_name = 'Zoë Ångström-O''Brien <admin>' WHERE id = 42;

INSERT INTO shop.products (sku, name, price, tags, weight_kg, in_stock, description, thumbnail)
SELECT md5('sku' || g)::uuid,
       (ARRAY['Mechanical keyboard', 'USB-C cable', 'Monitor arm', 'Desk lamp', 'Noise-cancelling headphones', 'Webcam', 'Laptop stand', 'Ergonomic mouse'])[1 + g % 8]
           || ' ' || chr(65 + g % 26) || g,
       round((5 + (g * 37) % 400 + (g % 100) / 100.0)::numeric, 2),
       (ARRAY['{office,new}', '{audio}', '{cables,sale}', '{lighting}'])[1 + g % 4]::text[],
       round((0.05 + (g % 50) / 10.0)::numeric, 2)::real,
       (g * 13) % 120,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'A well-made ' || lower((ARRAY['keyboard', 'cable', 'arm', 'lamp'])[1 + g % 4]) || E'.\nShips in two days.' END,
       CASE WHEN g % 10 = 0 THEN decode(md5(g::text), 'hex') END
FROM generate_series(1, 120) g;

INSERT INTO shop.orders (customer_id, status, placed_at, shipped_on, delivery, note)
SELECT 1 + (g * 7) % 400,
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'delivered', 'delivered', 'refunded'])[1 + g % 7]::shop.order_status,
       timestamptz '2024-01-01 08:00+00' + g * interval '3 hours 21 minutes',
       CASE WHEN g % 7 IN (2, 3, 4, 5) THEN date '2024-01-02' + g / 7 END,
       CASE WHEN g % 7 IN (3, 4, 5) THEN (1 + g % 5) * interval '1 day' + (g % 24) * interval '1 hour' END,
       CASE WHEN g % 11 = 0 THEN 'Leave at the door' WHEN g % 17 = 0 THEN 'Gift wrap, please 🎁' END
FROM generate_series(1, 900) g;

INSERT INTO shop.order_items (order_id, product_id, quantity, unit_price)
SELECT o.id, p.product_id, 1 + (o.id + p.n) % 3, pr.price
FROM shop.orders o
CROSS JOIN LATERAL (SELECT DISTINCT 1 + (o.id * n * 17) % 120 AS product_id, n FROM generate_series(1, 1 + o.id % 3) n) p
JOIN shop.products pr ON pr.id = p.product_id
ON CONFLICT DO NOTHING;

INSERT INTO shop.page_views (customer_id, path, viewed_at, duration_ms, user_agent)
SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 400 END,
       (ARRAY['/', '/products', '/products/keyboards', '/cart', '/checkout', '/account', '/search?q=lamp'])[1 + g % 7],
       timestamptz '2024-06-01 00:00+00' + g * interval '97 seconds',
       CASE WHEN g % 13 = 0 THEN NULL ELSE 200 + (g * 7919) % 60000 END,
       (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5)'])[1 + g % 3]
FROM generate_series(1, 100000) g;

INSERT INTO hr.departments (name) VALUES ('Engineering'), ('Support'), ('Sales'), ('Finance');
INSERT INTO hr.employees (department_id, manager_id, name, title, hired_on, salary, works_from, remote)
SELECT 1 + g % 4,
       CASE WHEN g > 4 THEN 1 + g % 4 END,
       (ARRAY['Alex', 'Sam', 'Robin', 'Kim', 'Jules', 'Noor', 'Mika', 'Ira'])[1 + g % 8] || ' ' || chr(65 + g % 26) || '.',
       CASE WHEN g <= 4 THEN 'Head of department' ELSE (ARRAY['Engineer', 'Specialist', 'Analyst', 'Coordinator'])[1 + g % 4] END,
       date '2015-03-01' + g * 29,
       48000 + (g * 1237) % 52000,
       time '08:00' + (g % 4) * interval '30 minutes',
       g % 3 = 0
FROM generate_series(1, 60) g;

CREATE VIEW reporting.order_totals AS
SELECT o.id AS order_id, c.full_name AS customer, o.status, o.placed_at,
       sum(i.quantity * i.unit_price) AS total, count(*) AS items
FROM shop.orders o
JOIN shop.customers c ON c.id = o.customer_id
JOIN shop.order_items i ON i.order_id = o.id
GROUP BY o.id, c.full_name;

CREATE VIEW reporting.team AS
SELECT e.name, e.title, d.name AS department, m.name AS manager, e.hired_on
FROM hr.employees e
JOIN hr.departments d ON d.id = e.department_id
LEFT JOIN hr.employees m ON m.id = e.manager_id;

CREATE MATERIALIZED VIEW reporting.monthly_revenue AS
SELECT date_trunc('month', placed_at)::date AS month, count(*) AS orders, sum(total) AS revenue
FROM reporting.order_totals
WHERE status <> 'refunded'
GROUP BY 1
ORDER BY 1;

CREATE FUNCTION reporting.customer_lifetime_value(for_customer integer) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(total), 0) FROM reporting.order_totals t
    JOIN shop.orders o ON o.id = t.order_id
    WHERE o.customer_id = for_customer AND t.status <> 'refunded'
$$;

CREATE FUNCTION reporting.top_products(how_many integer DEFAULT 10)
RETURNS TABLE (product text, sold bigint, revenue numeric)
LANGUAGE sql STABLE AS $$
    SELECT p.name, sum(i.quantity), sum(i.quantity * i.unit_price)
    FROM shop.order_items i JOIN shop.products p ON p.id = i.product_id
    GROUP BY p.name ORDER BY 3 DESC LIMIT how_many
$$;

ANALYZE;
